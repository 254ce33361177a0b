"""Drives the local server with the official Python SDK (oss2).

Run by tests/oss2_interop.rs with the server's endpoint and credentials in the
environment; OSSR_SIGNATURE is "v1" or "v4". Every check raises on failure, and the
script prints one line per check passed, then "N passed, 0 failed".
"""

import hashlib
import os
import sys
import tempfile

import oss2
import requests
from oss2 import utils

ENDPOINT = os.environ["OSSR_ENDPOINT"]
AK = os.environ["OSSR_AK"]
SK = os.environ["OSSR_SK"]
BUCKET = os.environ["OSSR_BUCKET"]
VERSION = os.environ["OSSR_SIGNATURE"]
REGION = "cn-hangzhou"

passed = []


def check(name):
    def wrap(fn):
        fn()
        passed.append(name)
        print(f"ok {VERSION} {name}", flush=True)
        return fn

    return wrap


def bucket_with(secret):
    if VERSION == "v4":
        auth = oss2.AuthV4(AK, secret)
        return oss2.Bucket(auth, ENDPOINT, BUCKET, region=REGION)
    return oss2.Bucket(oss2.Auth(AK, secret), ENDPOINT, BUCKET)


bucket = bucket_with(SK)
prefix = f"interop-{VERSION}/"
data = os.urandom(300 * 1024 + 7)


def crc64(b):
    c = utils.Crc64(0)
    c.update(b)
    return c.crc


@check("put, head and get_object_meta")
def _():
    key = prefix + "small.bin"
    result = bucket.put_object(key, data)
    assert result.status == 200
    assert int(result.crc) == crc64(data), "put crc"
    head = bucket.head_object(key)
    assert head.content_length == len(data)
    assert head.etag == hashlib.md5(data).hexdigest().upper(), head.etag
    assert int(head.server_crc) == crc64(data)
    assert head.object_type == "Normal"
    meta = bucket.get_object_meta(key)
    assert meta.content_length == len(data)
    assert meta.etag == head.etag


@check("ranged gets")
def _():
    key = prefix + "small.bin"
    for first, last in [(0, 0), (0, 99), (1000, 2047), (len(data) - 10, len(data) - 1)]:
        got = bucket.get_object(key, byte_range=(first, last)).read()
        assert got == data[first : last + 1], (first, last)
    # suffix and open-ended forms
    got = bucket.get_object(key, byte_range=(None, 100)).read()
    assert got == data[-100:]
    got = bucket.get_object(key, byte_range=(5000, None)).read()
    assert got == data[5000:]
    # the legacy quirk: an out-of-bounds range gives the whole object (200)
    r = bucket.get_object(key, byte_range=(0, len(data) + 100))
    assert r.status == 200 and r.read() == data
    # with the standard behaviour the end is clipped (206)
    r = bucket.get_object(
        key,
        byte_range=(10, len(data) + 100),
        headers={"x-oss-range-behavior": "standard"},
    )
    assert r.status == 206 and r.read() == data[10:]
    try:
        bucket.get_object(
            key,
            byte_range=(len(data), len(data) + 5),
            headers={"x-oss-range-behavior": "standard"},
        )
        raise AssertionError("a start past the end must be refused")
    except oss2.exceptions.ServerError as e:
        assert e.status == 416 and e.code == "InvalidRange", (e.status, e.code)


@check("streaming get with client_crc == server_crc")
def _():
    key = prefix + "small.bin"
    stream = bucket.get_object(key)
    chunks = []
    for chunk in stream:
        chunks.append(chunk)
    assert b"".join(chunks) == data
    assert stream.client_crc == stream.server_crc, (stream.client_crc, stream.server_crc)


@check("put from a generator (chunked)")
def _():
    key = prefix + "chunked.bin"

    def gen():
        for i in range(0, len(data), 8191):
            yield data[i : i + 8191]

    result = bucket.put_object(key, gen())
    assert int(result.crc) == crc64(data)
    assert bucket.get_object(key).read() == data


@check("conditional gets")
def _():
    key = prefix + "small.bin"
    etag = bucket.head_object(key).etag
    r = bucket.get_object(key, headers={"If-Match": '"' + etag + '"'})
    assert r.read() == data
    try:
        bucket.get_object(key, headers={"If-Match": '"0000"'})
        raise AssertionError("If-Match with another ETag must fail")
    except oss2.exceptions.PreconditionFailed:
        pass
    try:
        bucket.get_object(key, headers={"If-None-Match": '"' + etag + '"'})
        raise AssertionError("If-None-Match with the ETag must be 304")
    except oss2.exceptions.NotModified:
        pass


@check("resumable_upload and resumable_download, 25 MB, 4 threads, 1 MB parts")
def _():
    big = os.urandom(25 * 1000 * 1000)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src.bin")
        with open(src, "wb") as f:
            f.write(big)
        key = prefix + "big.bin"
        store = oss2.ResumableStore(root=tmp)
        oss2.resumable_upload(
            bucket,
            key,
            src,
            store=store,
            multipart_threshold=1024 * 1024,
            part_size=1024 * 1024,
            num_threads=4,
        )
        head = bucket.head_object(key)
        assert head.content_length == len(big)
        assert head.object_type == "Multipart", head.object_type
        assert int(head.server_crc) == crc64(big), "uploaded crc"
        dst = os.path.join(tmp, "dst.bin")
        dstore = oss2.ResumableDownloadStore(root=tmp)
        oss2.resumable_download(
            bucket,
            key,
            dst,
            store=dstore,
            multiget_threshold=1024 * 1024,
            part_size=1024 * 1024,
            num_threads=4,
        )
        with open(dst, "rb") as f:
            got = f.read()
        assert got == big, "downloaded bytes differ"
        assert crc64(got) == int(head.server_crc)


@check("multipart calls: list_parts paging and abort")
def _():
    key = prefix + "mp.bin"
    upload_id = bucket.init_multipart_upload(key).upload_id
    part = os.urandom(100 * 1024)
    for n in range(1, 4):
        bucket.upload_part(key, upload_id, n, part)
    listed = list(oss2.PartIterator(bucket, key, upload_id, max_parts=2))
    assert [p.part_number for p in listed] == [1, 2, 3]
    assert all(p.size == len(part) for p in listed)
    uploads = [u.upload_id for u in oss2.MultipartUploadIterator(bucket, prefix=prefix)]
    assert upload_id in uploads
    bucket.abort_multipart_upload(key, upload_id)
    try:
        bucket.list_parts(key, upload_id)
        raise AssertionError("an aborted upload must be gone")
    except oss2.exceptions.NoSuchUpload:
        pass


@check("copy_object: metadata COPY and REPLACE, conditions, forbid-overwrite")
def _():
    src = prefix + "copy src+1.bin"
    bucket.put_object(src, data, headers={"Content-Type": "text/csv", "x-oss-meta-colour": "blue"})
    etag = bucket.head_object(src).etag
    result = bucket.copy_object(BUCKET, src, prefix + "copy dst.bin")
    assert result.status == 200
    head = bucket.head_object(prefix + "copy dst.bin")
    assert head.content_type == "text/csv", head.content_type
    assert head.headers.get("x-oss-meta-colour") == "blue"
    assert int(head.server_crc) == crc64(data)
    assert bucket.get_object(prefix + "copy dst.bin").read() == data
    bucket.copy_object(
        BUCKET,
        src,
        prefix + "copy replaced.bin",
        headers={
            "x-oss-metadata-directive": "REPLACE",
            "Content-Type": "text/plain",
            "x-oss-meta-shape": "round",
            "x-oss-copy-source-if-match": '"' + etag + '"',
        },
    )
    head = bucket.head_object(prefix + "copy replaced.bin")
    assert head.content_type == "text/plain", head.content_type
    assert head.headers.get("x-oss-meta-shape") == "round"
    assert "x-oss-meta-colour" not in head.headers
    try:
        bucket.copy_object(BUCKET, src, prefix + "copy x.bin", headers={"x-oss-copy-source-if-match": '"OTHER"'})
        raise AssertionError("a failed if-match must be refused")
    except oss2.exceptions.PreconditionFailed:
        pass
    try:
        bucket.copy_object(BUCKET, src, prefix + "copy dst.bin", headers={"x-oss-forbid-overwrite": "true"})
        raise AssertionError("forbid-overwrite must refuse an existing target")
    except oss2.exceptions.ServerError as e:
        assert e.status == 409 and e.code == "FileAlreadyExists", (e.status, e.code)


@check("upload_part_copy: parts copied on the server list and complete")
def _():
    src = prefix + "copy big src.bin"
    big = os.urandom(2 * 100 * 1024 + 333)
    bucket.put_object(src, big)
    etag = bucket.head_object(src).etag
    key = prefix + "copy big dst.bin"
    upload_id = bucket.init_multipart_upload(key).upload_id
    ranges = [(0, 100 * 1024 - 1), (100 * 1024, 200 * 1024 - 1), (200 * 1024, len(big) - 1)]
    parts = []
    for n, r in enumerate(ranges, start=1):
        result = bucket.upload_part_copy(
            BUCKET, src, r, key, upload_id, n, headers={"x-oss-copy-source-if-match": '"' + etag + '"'}
        )
        parts.append(oss2.models.PartInfo(n, result.etag))
    listed = bucket.list_parts(key, upload_id).parts
    assert [p.size for p in listed] == [100 * 1024, 100 * 1024, 333], [p.size for p in listed]
    bucket.complete_multipart_upload(key, upload_id, parts)
    assert bucket.get_object(key).read() == big
    assert int(bucket.head_object(key).server_crc) == crc64(big)


@check("presigned URL get")
def _():
    key = prefix + "presigned file+name.bin"
    bucket.put_object(key, data)
    url = bucket.sign_url("GET", key, 60)
    r = requests.get(url)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.content == data
    tampered = url.replace(prefix.rstrip("/"), prefix.rstrip("/") + "x", 1)
    r = requests.get(tampered)
    assert r.status_code == 403, r.status_code


@check("a wrong secret raises SignatureDoesNotMatch")
def _():
    bad = bucket_with(SK + "-wrong")
    try:
        bad.get_object(prefix + "small.bin").read()
        raise AssertionError("a wrong secret must be refused")
    except oss2.exceptions.ServerError as e:
        assert e.status == 403 and e.code == "SignatureDoesNotMatch", (e.status, e.code)
    try:
        bad.head_object(prefix + "small.bin")
        raise AssertionError("a wrong secret must be refused on HEAD too")
    except oss2.exceptions.ServerError as e:
        assert e.status == 403, e.status


@check("unsigned requests get AccessDenied")
def _():
    r = requests.get(f"{ENDPOINT}/{BUCKET}/{prefix}small.bin")
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text, r.text


@check("keys with spaces, +, %, unicode and slashes round-trip")
def _():
    for name in ["a b c.txt", "plus+sign", "100%", "中文/目录/文件.txt", "deep/a/b/c/", "x?y#z&w=1", "~tilde*'()!"]:
        key = prefix + "keys/" + name
        body = name.encode("utf-8") * 3
        bucket.put_object(key, body)
        assert bucket.get_object(key).read() == body, key
        assert bucket.head_object(key).content_length == len(body)
        bucket.delete_object(key)
        assert not bucket.object_exists(key), key


LIST_KEYS = ["a", "B", "dir/1", "dir/2", "dir/sub/x", "dir/sub/y", "z z", "中文/文件", "é+%"]


def put_list_keys():
    base = prefix + "list/"
    for name in LIST_KEYS:
        bucket.put_object(base + name, name.encode("utf-8"))
    return base, sorted((base + n for n in LIST_KEYS), key=lambda k: k.encode("utf-8"))


@check("ObjectIterator (v1) pages in UTF-8 byte order, with and without a delimiter")
def _():
    base, expected = put_list_keys()
    listed = [o.key for o in oss2.ObjectIterator(bucket, prefix=base, max_keys=2)]
    assert listed == expected, listed
    infos = {o.key: o for o in oss2.ObjectIterator(bucket, prefix=base)}
    head = bucket.head_object(base + "a")
    assert infos[base + "a"].etag == head.etag and infos[base + "a"].size == 1
    assert infos[base + "a"].type == "Normal" and infos[base + "a"].storage_class == "Standard"
    top = [(o.key, o.is_prefix()) for o in oss2.ObjectIterator(bucket, prefix=base, delimiter="/", max_keys=1)]
    want = sorted([(base + "a", False), (base + "B", False), (base + "dir/", True), (base + "z z", False),
                   (base + "中文/", True), (base + "é+%", False)], key=lambda e: e[0].encode("utf-8"))
    assert top == want, top


@check("ObjectIteratorV2 pages by continuation token, with delimiter, start_after and fetch_owner")
def _():
    base, expected = put_list_keys()
    listed = [o.key for o in oss2.ObjectIteratorV2(bucket, prefix=base, max_keys=3)]
    assert listed == expected, listed
    sub = [(o.key, o.is_prefix()) for o in oss2.ObjectIteratorV2(bucket, prefix=base + "dir/", delimiter="/", max_keys=1)]
    assert sub == [(base + "dir/1", False), (base + "dir/2", False), (base + "dir/sub/", True)], sub
    after = [o.key for o in oss2.ObjectIteratorV2(bucket, prefix=base, start_after=base + "dir/2")]
    assert after == [k for k in expected if k.encode("utf-8") > (base + "dir/2").encode("utf-8")], after
    owned = list(oss2.ObjectIteratorV2(bucket, prefix=base, fetch_owner=True, max_keys=4))
    assert all(o.owner is not None for o in owned), "fetch_owner"
    for key in expected:
        bucket.delete_object(key)
    assert list(oss2.ObjectIteratorV2(bucket, prefix=base)) == []


print(f"{len(passed)} passed, 0 failed")
sys.exit(0)
