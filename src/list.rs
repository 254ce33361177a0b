//! Listing a bucket: [`Client::list_objects`] and its paging [`ObjectLister`].

use crate::client::{Client, RequestOptions};
use crate::config::validate_bucket;
use crate::error::{Error, ErrorKind, Result};
use crate::xml::ListedObject;

/// The most keys OSS returns in one page.
const MAX_PAGE: u32 = 1000;
/// The longest prefix, marker or key OSS accepts, in bytes.
const MAX_NAME: usize = 1023;

/// What to list. Start from `ListOptions::default()` (every key in the bucket, 1000
/// per page) and set the fields you need (the struct may gain fields).
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Only keys that start with this. Defaults to empty (every key).
    pub prefix: String,
    /// Roll keys up at the first occurrence of this text after the prefix: keys that
    /// share the text up to it are reported once, as a common prefix (`"/"` lists one
    /// "directory" level). Defaults to empty (no rolling up: every key below the
    /// prefix).
    pub delimiter: String,
    /// Only keys (and common prefixes) that sort after this one, in UTF-8 byte order.
    /// Defaults to empty (from the start).
    pub start_after: String,
    /// Entries (keys plus common prefixes) per page, 1..=1000; 0 means 1000. Defaults
    /// to 0.
    pub page_size: u32,
    /// Request options for every page: the payer flag and the cancel token (a
    /// cancelled token fails the page being fetched with [`ErrorKind::Cancelled`]).
    pub request: RequestOptions,
}

impl ListOptions {
    /// Options listing every key under `prefix`.
    pub fn prefix(prefix: impl Into<String>) -> ListOptions {
        ListOptions {
            prefix: prefix.into(),
            ..ListOptions::default()
        }
    }

    /// Checks the options: a page size above 1000, a prefix, delimiter or start key
    /// longer than OSS's 1023 bytes or holding a NUL, bad request options.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the option.
    pub fn validate(&self) -> Result<()> {
        if self.page_size > MAX_PAGE {
            return Err(Error::invalid(format!(
                "page size {} is above OSS's {MAX_PAGE} keys per page",
                self.page_size
            )));
        }
        for (name, text) in [
            ("prefix", &self.prefix),
            ("delimiter", &self.delimiter),
            ("start_after", &self.start_after),
        ] {
            if text.len() > MAX_NAME {
                return Err(Error::invalid(format!(
                    "the {name} is {} bytes; OSS allows at most {MAX_NAME}",
                    text.len()
                )));
            }
            if text.contains('\0') {
                return Err(Error::invalid(format!("the {name} contains a NUL")));
            }
        }
        self.request.validate()
    }
}

/// One page of a listing: objects in key order, and (with a delimiter) the common
/// prefixes in order. A page may hold no entry at all and still not be the last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// The objects of this page.
    pub objects: Vec<ListedObject>,
    /// The common prefixes of this page (only with a delimiter), each ending with it.
    pub common_prefixes: Vec<String>,
}

/// A listing in progress, made by [`Client::list_objects`]: each call to
/// [`next_page`](Self::next_page) (or [`Iterator::next`]) fetches one page with
/// ListObjectsV2 (`encoding-type=url`, so every legal key arrives intact) and
/// continues where the last page ended.
///
/// An error ends the listing: the failing call returns it and later calls return
/// `Ok(None)` (the iterator returns `None`), so a `for` loop never spins on a
/// failing page. To pick up again, list anew with `start_after` set to the last key
/// seen. One lister is used by one thread at a time; it holds a clone of the client.
#[derive(Debug)]
pub struct ObjectLister {
    client: Client,
    bucket: String,
    opts: ListOptions,
    /// The continuation token of the next page; None before the first.
    token: Option<String>,
    done: bool,
}

impl ObjectLister {
    /// Fetches the next page, or `Ok(None)` once the listing is complete (or failed
    /// earlier).
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] for a missing bucket, [`ErrorKind::Cancelled`] when
    /// the options' token is cancelled, [`ErrorKind::Server`] when the server does
    /// not advance its continuation token, and the transport's errors.
    pub fn next_page(&mut self) -> Result<Option<ListPage>> {
        if self.done {
            return Ok(None);
        }
        let result = self.fetch();
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result
    }

    fn fetch(&mut self) -> Result<Option<ListPage>> {
        let page_size = match self.opts.page_size {
            0 => MAX_PAGE,
            n => n,
        };
        let mut query = vec![
            ("list-type".to_string(), "2".to_string()),
            ("encoding-type".to_string(), "url".to_string()),
            ("max-keys".to_string(), page_size.to_string()),
        ];
        let optional = [
            ("prefix", &self.opts.prefix),
            ("delimiter", &self.opts.delimiter),
            ("start-after", &self.opts.start_after),
        ];
        for (name, text) in optional {
            if !text.is_empty() {
                query.push((name.to_string(), text.clone()));
            }
        }
        if let Some(token) = &self.token {
            query.push(("continuation-token".to_string(), token.clone()));
        }
        let page = self
            .client
            .list_objects_page(&self.bucket, query, &self.opts.request)
            .map_err(|e| e.with_object(&self.bucket, None))?;
        match page.next {
            Some(next) if Some(&next) == self.token.as_ref() => {
                return Err(Error::new(
                    ErrorKind::Server,
                    "the listing did not advance its continuation token",
                )
                .with_object(&self.bucket, None));
            }
            Some(next) => self.token = Some(next),
            None => self.done = true,
        }
        Ok(Some(ListPage {
            objects: page.objects,
            common_prefixes: page.common_prefixes,
        }))
    }
}

impl Iterator for ObjectLister {
    type Item = Result<ListPage>;

    fn next(&mut self) -> Option<Result<ListPage>> {
        self.next_page().transpose()
    }
}

impl Client {
    /// Lists a bucket's keys page by page, in UTF-8 byte order: returns an
    /// [`ObjectLister`] that fetches each page when asked (nothing is sent by this
    /// call). Each entry carries key, size, ETag, Last-Modified, storage class and
    /// object type; with a delimiter, the common prefixes come too.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), oss_resume::Error> {
    /// # let client = oss_resume::Client::new(oss_resume::Config::builder("http://127.0.0.1:9000").build()?)?;
    /// use oss_resume::ListOptions;
    ///
    /// let mut opts = ListOptions::prefix("logs/2024/");
    /// opts.delimiter = "/".into();
    /// for page in client.list_objects("examplebucket", &opts)? {
    ///     let page = page?;
    ///     for dir in &page.common_prefixes {
    ///         println!("{dir}");
    ///     }
    ///     for object in &page.objects {
    ///         println!("{} {} bytes", object.key, object.size);
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a bad bucket name or options (see
    /// [`ListOptions::validate`]), before any request.
    pub fn list_objects(&self, bucket: &str, opts: &ListOptions) -> Result<ObjectLister> {
        validate_bucket(bucket)?;
        opts.validate()?;
        Ok(ObjectLister {
            client: self.clone(),
            bucket: bucket.to_string(),
            opts: opts.clone(),
            token: None,
            done: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_options_are_named() {
        let mut opts = ListOptions::prefix("a/");
        assert!(opts.validate().is_ok());
        opts.page_size = 1001;
        assert!(
            opts.validate()
                .unwrap_err()
                .to_string()
                .contains("page size")
        );
        let mut opts = ListOptions::prefix("x".repeat(1024));
        assert!(opts.validate().unwrap_err().to_string().contains("prefix"));
        opts.prefix.clear();
        opts.delimiter = "a\0".into();
        let err = opts.validate().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.to_string().contains("delimiter"), "{err}");
    }
}
