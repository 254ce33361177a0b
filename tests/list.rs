//! Listing a bucket (`Client::list_objects`) against the local server: paging,
//! key order, delimiters and common prefixes, start-after, hostile key texts,
//! cancellation and errors.

use std::time::Duration;

use oss_resume::{
    CancelToken, Client, Config, ErrorKind, ListOptions, ListedObject, RequestOptions, RetryPolicy,
    SignatureVersion,
};
use oss_resume_server::{Server, ServerConfig};

const BUCKET: &str = "list-bucket";

fn server() -> Server {
    let mut config = ServerConfig::new("ls-ak", "ls-sk");
    config.buckets = vec![BUCKET.into()];
    Server::start(config).unwrap()
}

fn client(s: &Server) -> Client {
    Client::new(
        Config::builder(&s.endpoint())
            .credentials("ls-ak", "ls-sk", None)
            .region("cn-hangzhou")
            .signature_version(SignatureVersion::V4)
            .retry_policy(RetryPolicy {
                max_attempts: 2,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(20),
            })
            .build()
            .unwrap(),
    )
    .unwrap()
}

/// Every page of a listing: (objects, common prefixes, number of pages).
fn list_all(c: &Client, opts: &ListOptions) -> (Vec<ListedObject>, Vec<String>, usize) {
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    let mut pages = 0;
    for page in c.list_objects(BUCKET, opts).unwrap() {
        let page = page.unwrap();
        pages += 1;
        assert!(pages < 10_000, "the listing does not end");
        objects.extend(page.objects);
        prefixes.extend(page.common_prefixes);
    }
    (objects, prefixes, pages)
}

fn keys(objects: &[ListedObject]) -> Vec<String> {
    objects.iter().map(|o| o.key.clone()).collect()
}

#[test]
fn every_key_comes_once_in_utf8_byte_order_across_pages() {
    let s = server();
    // Mixed case, non-ASCII, spaces, '+', a control character and a '%': byte order
    // puts 'B' before 'a' and 'é' (0xC3) before '中' (0xE4).
    let mut names: Vec<String> = vec![
        "a",
        "B",
        "é",
        "中",
        "~",
        "a b",
        "a+b",
        "a%2Fb",
        "ctl\u{1}x",
        "z/",
        "a/b/c",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    names.extend((0..30).map(|i| format!("n/{i:03}")));
    for (i, name) in names.iter().enumerate() {
        s.put_object(BUCKET, name, &vec![b'x'; i]).unwrap();
    }
    let c = client(&s);
    let mut opts = ListOptions::default();
    opts.page_size = 7;
    let (objects, prefixes, pages) = list_all(&c, &opts);
    let mut expected = names.clone();
    expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(keys(&objects), expected);
    assert!(prefixes.is_empty());
    assert_eq!(pages, expected.len().div_ceil(7));
    assert_eq!(s.stats().requests_of("ListObjectsV2"), pages as u64);
    // Each entry carries what HEAD would say.
    for o in &objects {
        let i = names.iter().position(|n| *n == o.key).unwrap();
        assert_eq!(o.size, i as u64, "{}", o.key);
        let head = c
            .head_object(BUCKET, &o.key, &RequestOptions::default())
            .unwrap();
        assert_eq!(o.etag, head.etag);
        assert_eq!(o.object_type, "Normal");
        assert_eq!(o.storage_class, "Standard");
        let listed = o.last_modified_time().unwrap();
        assert_eq!(httpdate::fmt_http_date(listed), head.last_modified);
    }
}

#[test]
fn a_delimiter_rolls_keys_up_into_common_prefixes_never_repeated_across_pages() {
    let s = server();
    for key in [
        "d/a.txt", "d/b/1", "d/b/2", "d/b/3", "d/c/1", "d/c/x/2", "d/d.txt", "d/e/1", "e/1",
    ] {
        s.put_object(BUCKET, key, b"1").unwrap();
    }
    let c = client(&s);
    for page_size in [1, 2, 3, 1000] {
        let mut opts = ListOptions::prefix("d/");
        opts.delimiter = "/".into();
        opts.page_size = page_size;
        let (objects, prefixes, pages) = list_all(&c, &opts);
        assert_eq!(
            keys(&objects),
            ["d/a.txt", "d/d.txt"],
            "page size {page_size}"
        );
        assert_eq!(prefixes, ["d/b/", "d/c/", "d/e/"], "page size {page_size}");
        // 5 entries: a page holds up to page_size of them, objects and prefixes alike.
        assert_eq!(pages, 5usize.div_ceil(page_size as usize));
    }
    // Without a delimiter, everything below the prefix.
    let (objects, prefixes, _) = list_all(&c, &ListOptions::prefix("d/c/"));
    assert_eq!(keys(&objects), ["d/c/1", "d/c/x/2"]);
    assert!(prefixes.is_empty());
}

#[test]
fn start_after_skips_keys_up_to_and_including_it() {
    let s = server();
    for key in ["k1", "k2", "k3", "k4"] {
        s.put_object(BUCKET, key, b"").unwrap();
    }
    let c = client(&s);
    let mut opts = ListOptions::default();
    opts.start_after = "k2".into();
    assert_eq!(keys(&list_all(&c, &opts).0), ["k3", "k4"]);
    opts.start_after = "k0".into();
    opts.page_size = 1;
    assert_eq!(keys(&list_all(&c, &opts).0), ["k1", "k2", "k3", "k4"]);
}

#[test]
fn an_empty_prefix_listing_is_one_empty_page() {
    let s = server();
    let c = client(&s);
    let (objects, prefixes, pages) = list_all(&c, &ListOptions::prefix("nothing/"));
    assert!(objects.is_empty() && prefixes.is_empty());
    assert_eq!(pages, 1);
}

#[test]
fn a_missing_bucket_is_not_found_and_ends_the_listing() {
    let s = server();
    let c = client(&s);
    let mut lister = c
        .list_objects("no-such-bucket", &ListOptions::default())
        .unwrap();
    let err = lister.next_page().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.oss_code(), Some("NoSuchBucket"));
    assert!(lister.next_page().unwrap().is_none());
    assert!(lister.next().is_none());
}

#[test]
fn a_cancelled_token_fails_the_page_without_a_request() {
    let s = server();
    s.put_object(BUCKET, "k", b"").unwrap();
    let c = client(&s);
    let token = CancelToken::new();
    let mut opts = ListOptions::default();
    opts.request.cancel = Some(token.clone());
    let mut lister = c.list_objects(BUCKET, &opts).unwrap();
    token.cancel();
    let err = lister.next_page().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert_eq!(s.stats().requests_of("ListObjectsV2"), 0);
}

#[test]
fn bad_options_are_refused_before_any_request() {
    let s = server();
    let c = client(&s);
    let mut opts = ListOptions::default();
    opts.page_size = 5000;
    let err = c.list_objects(BUCKET, &opts).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("page size"), "{err}");
    let err = c
        .list_objects("Bad_Bucket", &ListOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(s.stats().requests_of("ListObjectsV2"), 0);
}
