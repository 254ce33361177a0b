//! Buckets, objects and multipart uploads, kept in memory or under a data directory.
//!
//! On disk every object version and every part has its own data file, named with a
//! random generation, and a JSON record beside it. A new version is written to a
//! temporary file and renamed into place, and a GET opens its file while holding the
//! store's lock, so a reader keeps the version it started with even while the object is
//! replaced underneath it.
//!
//! Layout: `DIR/<bucket>/objects/<gen>.{data,json}`,
//! `DIR/<bucket>/uploads/<upload-id>/{upload.json,part-<n>-<gen>.data,part-<n>.json}`,
//! `DIR/<bucket>/tmp/` (cleared at start-up).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use md5::{Digest, Md5};
use oss_resume::crc64;

use crate::error::OssError;

/// Smallest part OSS accepts, except for the last one.
pub const MIN_PART_SIZE: u64 = 100 * 1024;
/// Highest part number.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// Where an object's or part's bytes live.
#[derive(Debug, Clone)]
pub enum Blob {
    Memory(Arc<Vec<u8>>),
    Disk(PathBuf),
}

/// An opened body, ready to stream.
pub enum OpenBlob {
    Memory(Arc<Vec<u8>>),
    Disk(File),
}

/// What the server knows about one object version.
#[derive(Debug, Clone)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// Quoted, as sent in the `ETag` header.
    pub etag: String,
    pub crc64: u64,
    pub last_modified: SystemTime,
    /// `Normal` or `Multipart`.
    pub object_type: String,
    pub content_type: String,
    /// Stored headers sent back on GET/HEAD (`x-oss-meta-*`, storage class, ...).
    pub headers: Vec<(String, String)>,
}

/// One object version.
#[derive(Debug)]
pub struct StoredObject {
    pub meta: ObjectMeta,
    blob: Blob,
}

/// One uploaded part.
#[derive(Debug)]
pub struct Part {
    pub number: u32,
    pub size: u64,
    /// Quoted uppercase MD5 hex.
    pub etag: String,
    pub md5: [u8; 16],
    pub crc64: u64,
    pub last_modified: SystemTime,
    blob: Blob,
}

/// A multipart upload in progress.
#[derive(Debug)]
pub struct Upload {
    pub id: String,
    pub key: String,
    pub initiated: SystemTime,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub sequential: bool,
    pub parts: BTreeMap<u32, Arc<Part>>,
    /// Order of initiation, for listing.
    seq: u64,
}

#[derive(Debug, Default)]
struct Bucket {
    objects: BTreeMap<String, Arc<StoredObject>>,
    uploads: BTreeMap<String, Upload>,
}

/// Bytes received from a request body and where they were put.
pub struct Received {
    blob: Blob,
    pub size: u64,
    pub md5: [u8; 16],
    pub crc64: u64,
}

/// The store. Cheap operations run under one lock; bodies are read and written outside it.
pub struct Store {
    dir: Option<PathBuf>,
    buckets: Mutex<BTreeMap<String, Bucket>>,
    upload_seq: std::sync::atomic::AtomicU64,
}

/// Seconds-precision time, as HTTP dates carry.
pub fn now_secs(offset_secs: i64) -> SystemTime {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    UNIX_EPOCH + Duration::from_secs(now.saturating_add_signed(offset_secs))
}

fn generation() -> String {
    format!("{:016x}", fastrand::u64(..))
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", generation()));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

impl Store {
    /// A store in memory (`dir` None) or under `dir`, loading what is there and creating
    /// the named buckets.
    pub fn open(dir: Option<&Path>, buckets: &[String]) -> io::Result<Store> {
        let store = Store {
            dir: dir.map(Path::to_path_buf),
            buckets: Mutex::new(BTreeMap::new()),
            upload_seq: std::sync::atomic::AtomicU64::new(1),
        };
        if let Some(dir) = dir {
            fs::create_dir_all(dir)?;
            store.load(dir)?;
        }
        for name in buckets {
            store.create_bucket(name)?;
        }
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Bucket>> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a bucket (no-op when it exists).
    pub fn create_bucket(&self, name: &str) -> io::Result<()> {
        if !valid_bucket_name(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "invalid bucket name {name:?}: 3-63 characters of a-z, 0-9 and '-', starting with a letter or digit and not ending with '-' (e.g. my-bucket)"
                ),
            ));
        }
        if let Some(dir) = &self.dir {
            for sub in ["objects", "uploads", "tmp"] {
                fs::create_dir_all(dir.join(name).join(sub))?;
            }
        }
        self.lock().entry(name.to_string()).or_default();
        Ok(())
    }

    /// Whether the bucket exists.
    pub fn has_bucket(&self, name: &str) -> bool {
        self.lock().contains_key(name)
    }

    /// Multipart uploads in progress, over all buckets.
    pub fn uploads_in_progress(&self) -> u64 {
        self.lock().values().map(|b| b.uploads.len() as u64).sum()
    }

    fn bucket_dir(&self, bucket: &str, sub: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(bucket).join(sub))
    }

    /// Reads a request body into the bucket's temporary space, hashing it on the way.
    /// A body cut short is an error and leaves nothing behind.
    pub fn receive(&self, bucket: &str, body: &mut dyn Read) -> io::Result<Received> {
        let mut md5 = Md5::new();
        let mut crc = crc64::Crc64::new();
        let mut buf = vec![0u8; 256 * 1024];
        match self.bucket_dir(bucket, "tmp") {
            None => {
                let mut data = Vec::new();
                loop {
                    let n = body.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    md5.update(&buf[..n]);
                    crc.update(&buf[..n]);
                    data.extend_from_slice(&buf[..n]);
                }
                Ok(Received {
                    size: data.len() as u64,
                    blob: Blob::Memory(Arc::new(data)),
                    md5: md5.finalize().into(),
                    crc64: crc.value(),
                })
            }
            Some(tmp_dir) => {
                let path = tmp_dir.join(format!("recv-{}", generation()));
                let result = (|| {
                    let mut file = File::create(&path)?;
                    let mut size = 0u64;
                    loop {
                        let n = body.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        md5.update(&buf[..n]);
                        crc.update(&buf[..n]);
                        file.write_all(&buf[..n])?;
                        size += n as u64;
                    }
                    Ok(size)
                })();
                match result {
                    Ok(size) => Ok(Received {
                        blob: Blob::Disk(path),
                        size,
                        md5: md5.finalize().into(),
                        crc64: crc.value(),
                    }),
                    Err(e) => {
                        let _ = fs::remove_file(&path);
                        Err(e)
                    }
                }
            }
        }
    }

    /// Throws away received bytes that will not be stored.
    pub fn discard(&self, received: Received) {
        if let Blob::Disk(path) = received.blob {
            let _ = fs::remove_file(path);
        }
    }

    /// Stores a simple object from received bytes, replacing any earlier version.
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        received: Received,
        content_type: String,
        headers: Vec<(String, String)>,
        now: SystemTime,
    ) -> Result<Arc<StoredObject>, OssError> {
        let meta = ObjectMeta {
            key: key.to_string(),
            size: received.size,
            etag: format!("\"{}\"", hex_upper(&received.md5)),
            crc64: received.crc64,
            last_modified: now,
            object_type: "Normal".to_string(),
            content_type,
            headers,
        };
        self.commit_object(bucket, meta, received.blob)
    }

    /// Stores a CopyObject's result: `meta` as given (the source's ETag and object
    /// type: a copy is the same object), its size and CRC-64 those of the bytes.
    pub fn put_copy(
        &self,
        bucket: &str,
        meta: ObjectMeta,
        received: Received,
    ) -> Result<Arc<StoredObject>, OssError> {
        let meta = ObjectMeta {
            size: received.size,
            crc64: received.crc64,
            ..meta
        };
        self.commit_object(bucket, meta, received.blob)
    }

    /// Moves a blob into place as the object's newest version and records it.
    fn commit_object(
        &self,
        bucket: &str,
        meta: ObjectMeta,
        blob: Blob,
    ) -> Result<Arc<StoredObject>, OssError> {
        let blob = match (blob, self.bucket_dir(bucket, "objects")) {
            (Blob::Disk(tmp), Some(objects)) => {
                let gen_name = generation();
                let data_path = objects.join(format!("{gen_name}.data"));
                let json_path = objects.join(format!("{gen_name}.json"));
                let persist = || -> io::Result<()> {
                    File::open(&tmp)?.sync_all()?;
                    fs::rename(&tmp, &data_path)?;
                    write_atomic(&json_path, object_json(&meta, &data_path).as_bytes())
                };
                if let Err(e) = persist() {
                    let _ = fs::remove_file(&tmp);
                    let _ = fs::remove_file(&data_path);
                    return Err(OssError::internal(&format!("storing the object: {e}")));
                }
                Blob::Disk(data_path)
            }
            (blob, _) => blob,
        };
        let object = Arc::new(StoredObject { meta, blob });
        let old = {
            let mut buckets = self.lock();
            let b = buckets
                .get_mut(bucket)
                .ok_or_else(|| OssError::no_such_bucket(bucket))?;
            b.objects.insert(object.meta.key.clone(), object.clone())
        };
        if let Some(old) = old {
            remove_object_files(&old);
        }
        Ok(object)
    }

    /// The object's current version and its opened body.
    pub fn open_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(Arc<StoredObject>, OpenBlob), OssError> {
        let buckets = self.lock();
        let b = buckets
            .get(bucket)
            .ok_or_else(|| OssError::no_such_bucket(bucket))?;
        let object = b
            .objects
            .get(key)
            .ok_or_else(|| OssError::no_such_key(key))?
            .clone();
        // Opened under the lock: a concurrent replacement cannot unlink it first.
        let open = match &object.blob {
            Blob::Memory(data) => OpenBlob::Memory(data.clone()),
            Blob::Disk(path) => OpenBlob::Disk(
                File::open(path).map_err(|e| OssError::internal(&format!("opening: {e}")))?,
            ),
        };
        Ok((object, open))
    }

    /// The object's current metadata.
    pub fn object_meta(&self, bucket: &str, key: &str) -> Result<ObjectMeta, OssError> {
        let buckets = self.lock();
        let b = buckets
            .get(bucket)
            .ok_or_else(|| OssError::no_such_bucket(bucket))?;
        b.objects
            .get(key)
            .map(|o| o.meta.clone())
            .ok_or_else(|| OssError::no_such_key(key))
    }

    /// Visits the objects whose keys start with `prefix` and sort after `after`, in
    /// key order (UTF-8 byte order), under the store's lock, until `visit` returns
    /// false.
    pub fn scan_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        mut visit: impl FnMut(&ObjectMeta) -> bool,
    ) -> Result<(), OssError> {
        use std::ops::Bound;
        let buckets = self.lock();
        let b = buckets
            .get(bucket)
            .ok_or_else(|| OssError::no_such_bucket(bucket))?;
        // Keys with the prefix sort at or after the prefix itself.
        let start = if prefix > after {
            Bound::Included(prefix)
        } else {
            Bound::Excluded(after)
        };
        for (key, object) in b.objects.range::<str, _>((start, Bound::Unbounded)) {
            if !key.starts_with(prefix) || !visit(&object.meta) {
                break;
            }
        }
        Ok(())
    }

    /// Deletes an object; deleting a missing object succeeds, as on OSS.
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<(), OssError> {
        let old = {
            let mut buckets = self.lock();
            let b = buckets
                .get_mut(bucket)
                .ok_or_else(|| OssError::no_such_bucket(bucket))?;
            b.objects.remove(key)
        };
        if let Some(old) = old {
            remove_object_files(&old);
        }
        Ok(())
    }

    /// Replaces the object with different bytes of the same size (the first byte
    /// inverted), giving it a new ETag, CRC and Last-Modified. Used by the rewrite fault.
    pub fn rewrite_object(&self, bucket: &str, key: &str, now: SystemTime) -> io::Result<()> {
        let (object, open) = self
            .open_object(bucket, key)
            .map_err(|e| io::Error::other(e.message))?;
        let mut reader: Box<dyn Read> = match open {
            OpenBlob::Memory(data) => Box::new(io::Cursor::new(data.to_vec())),
            OpenBlob::Disk(file) => Box::new(file),
        };
        let mut first = true;
        let mut flipping = FlipFirst {
            inner: &mut reader,
            first: &mut first,
        };
        let received = self.receive(bucket, &mut flipping)?;
        let mut meta = object.meta.clone();
        meta.size = received.size;
        meta.etag = format!("\"{}\"", hex_upper(&received.md5));
        meta.crc64 = received.crc64;
        meta.last_modified = now.max(object.meta.last_modified + Duration::from_secs(1));
        meta.object_type = "Normal".to_string();
        self.commit_object(bucket, meta, received.blob)
            .map(|_| ())
            .map_err(|e| io::Error::other(e.message))
    }

    /// Starts a multipart upload and returns its id.
    pub fn initiate_upload(
        &self,
        bucket: &str,
        key: &str,
        content_type: String,
        headers: Vec<(String, String)>,
        sequential: bool,
        now: SystemTime,
    ) -> Result<String, OssError> {
        let id = format!("{:016X}{:016X}", fastrand::u64(..), fastrand::u64(..));
        let seq = self
            .upload_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let upload = Upload {
            id: id.clone(),
            key: key.to_string(),
            initiated: now,
            content_type,
            headers,
            sequential,
            parts: BTreeMap::new(),
            seq,
        };
        if let Some(uploads) = self.bucket_dir(bucket, "uploads") {
            let dir = uploads.join(&id);
            let persist = || -> io::Result<()> {
                fs::create_dir_all(&dir)?;
                write_atomic(&dir.join("upload.json"), upload_json(&upload).as_bytes())
            };
            persist().map_err(|e| OssError::internal(&format!("storing the upload: {e}")))?;
        }
        let mut buckets = self.lock();
        let b = buckets
            .get_mut(bucket)
            .ok_or_else(|| OssError::no_such_bucket(bucket))?;
        b.uploads.insert(id.clone(), upload);
        Ok(id)
    }

    /// Checks that an upload exists for this key (before reading a part's body).
    pub fn check_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(), OssError> {
        let buckets = self.lock();
        let b = buckets
            .get(bucket)
            .ok_or_else(|| OssError::no_such_bucket(bucket))?;
        match b.uploads.get(upload_id) {
            Some(u) if u.key == key => Ok(()),
            _ => Err(OssError::no_such_upload(upload_id)),
        }
    }

    /// Stores (or replaces) one part of an upload.
    pub fn put_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        received: Received,
        now: SystemTime,
    ) -> Result<Arc<Part>, OssError> {
        let etag = format!("\"{}\"", hex_upper(&received.md5));
        let blob = match (received.blob, self.bucket_dir(bucket, "uploads")) {
            (Blob::Disk(tmp), Some(uploads)) => {
                let dir = uploads.join(upload_id);
                let data_path = dir.join(format!("part-{number}-{}.data", generation()));
                if let Err(e) = File::open(&tmp)
                    .and_then(|f| f.sync_all())
                    .and_then(|_| fs::rename(&tmp, &data_path))
                {
                    let _ = fs::remove_file(&tmp);
                    // The upload directory is gone when the upload was aborted meanwhile.
                    if !dir.exists() {
                        return Err(OssError::no_such_upload(upload_id));
                    }
                    return Err(OssError::internal(&format!("storing the part: {e}")));
                }
                Blob::Disk(data_path)
            }
            (blob, _) => blob,
        };
        let part = Arc::new(Part {
            number,
            size: received.size,
            etag,
            md5: received.md5,
            crc64: received.crc64,
            last_modified: now,
            blob,
        });
        let old = {
            let mut buckets = self.lock();
            let b = buckets
                .get_mut(bucket)
                .ok_or_else(|| OssError::no_such_bucket(bucket))?;
            let upload = match b.uploads.get_mut(upload_id) {
                Some(u) if u.key == key => u,
                _ => {
                    drop(buckets);
                    remove_blob(&part.blob);
                    return Err(OssError::no_such_upload(upload_id));
                }
            };
            if let Some(uploads) = self.bucket_dir(bucket, "uploads") {
                let json = uploads.join(upload_id).join(format!("part-{number}.json"));
                if let Err(e) = write_atomic(&json, part_json(&part).as_bytes()) {
                    drop(buckets);
                    remove_blob(&part.blob);
                    return Err(OssError::internal(&format!("storing the part: {e}")));
                }
            }
            upload.parts.insert(number, part.clone())
        };
        if let Some(old) = old {
            remove_blob(&old.blob);
        }
        Ok(part)
    }

    /// The parts of an upload, in order.
    pub fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<Arc<Part>>, OssError> {
        let buckets = self.lock();
        let b = buckets
            .get(bucket)
            .ok_or_else(|| OssError::no_such_bucket(bucket))?;
        match b.uploads.get(upload_id) {
            Some(u) if u.key == key => Ok(u.parts.values().cloned().collect()),
            _ => Err(OssError::no_such_upload(upload_id)),
        }
    }

    /// Uploads in a bucket: (key, upload id, initiated), sorted by key then initiation.
    pub fn list_uploads(
        &self,
        bucket: &str,
    ) -> Result<Vec<(String, String, SystemTime)>, OssError> {
        let buckets = self.lock();
        let b = buckets
            .get(bucket)
            .ok_or_else(|| OssError::no_such_bucket(bucket))?;
        let mut out: Vec<_> = b
            .uploads
            .values()
            .map(|u| (u.key.clone(), u.seq, u.id.clone(), u.initiated))
            .collect();
        out.sort();
        Ok(out.into_iter().map(|(k, _, id, t)| (k, id, t)).collect())
    }

    /// Aborts an upload and deletes its parts.
    pub fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(), OssError> {
        let upload = {
            let mut buckets = self.lock();
            let b = buckets
                .get_mut(bucket)
                .ok_or_else(|| OssError::no_such_bucket(bucket))?;
            match b.uploads.get(upload_id) {
                Some(u) if u.key == key => b.uploads.remove(upload_id),
                _ => return Err(OssError::no_such_upload(upload_id)),
            }
        };
        drop(upload);
        if let Some(uploads) = self.bucket_dir(bucket, "uploads") {
            let _ = fs::remove_dir_all(uploads.join(upload_id));
        }
        Ok(())
    }

    /// Completes an upload from the listed (part number, ETag) pairs, in the order given.
    pub fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        listed: &[(u32, String)],
        now: SystemTime,
    ) -> Result<Arc<StoredObject>, OssError> {
        let (parts, content_type, headers) = {
            let buckets = self.lock();
            let b = buckets
                .get(bucket)
                .ok_or_else(|| OssError::no_such_bucket(bucket))?;
            let upload = match b.uploads.get(upload_id) {
                Some(u) if u.key == key => u,
                _ => return Err(OssError::no_such_upload(upload_id)),
            };
            let parts = check_completion(upload, listed)?;
            (parts, upload.content_type.clone(), upload.headers.clone())
        };
        // Assemble outside the lock.
        let mut md5s = Vec::with_capacity(parts.len() * 16);
        let mut crc = 0u64;
        let mut size = 0u64;
        for p in &parts {
            md5s.extend_from_slice(&p.md5);
            crc = crc64::combine(crc, p.crc64, p.size);
            size += p.size;
        }
        let blob = match self.bucket_dir(bucket, "tmp") {
            None => {
                let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
                for p in &parts {
                    if let Blob::Memory(bytes) = &p.blob {
                        data.extend_from_slice(bytes);
                    }
                }
                Blob::Memory(Arc::new(data))
            }
            Some(tmp_dir) => {
                let path = tmp_dir.join(format!("complete-{}", generation()));
                let assemble = || -> io::Result<()> {
                    let mut out = File::create(&path)?;
                    for p in &parts {
                        if let Blob::Disk(part_path) = &p.blob {
                            io::copy(&mut File::open(part_path)?, &mut out)?;
                        }
                    }
                    Ok(())
                };
                if let Err(e) = assemble() {
                    let _ = fs::remove_file(&path);
                    return Err(OssError::internal(&format!("assembling the object: {e}")));
                }
                Blob::Disk(path)
            }
        };
        let md5_of_md5s: [u8; 16] = Md5::digest(&md5s).into();
        let meta = ObjectMeta {
            key: key.to_string(),
            size,
            etag: format!("\"{}-{}\"", hex_upper(&md5_of_md5s), parts.len()),
            crc64: crc,
            last_modified: now,
            object_type: "Multipart".to_string(),
            content_type,
            headers,
        };
        // The upload must still exist: an abort in the meantime wins.
        {
            let mut buckets = self.lock();
            let b = buckets
                .get_mut(bucket)
                .ok_or_else(|| OssError::no_such_bucket(bucket))?;
            if b.uploads.remove(upload_id).is_none() {
                drop(buckets);
                remove_blob(&blob);
                return Err(OssError::no_such_upload(upload_id));
            }
        }
        let object = self.commit_object(bucket, meta, blob)?;
        if let Some(uploads) = self.bucket_dir(bucket, "uploads") {
            let _ = fs::remove_dir_all(uploads.join(upload_id));
        }
        Ok(object)
    }

    fn load(&self, dir: &Path) -> io::Result<()> {
        let mut max_seq = 0;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            if !entry.file_type()?.is_dir() || !valid_bucket_name(&name) {
                continue;
            }
            let bucket_dir = entry.path();
            let _ = fs::remove_dir_all(bucket_dir.join("tmp"));
            for sub in ["objects", "uploads", "tmp"] {
                fs::create_dir_all(bucket_dir.join(sub))?;
            }
            let mut bucket = Bucket::default();
            load_objects(&bucket_dir.join("objects"), &mut bucket)?;
            load_uploads(&bucket_dir.join("uploads"), &mut bucket, &mut max_seq)?;
            self.lock().insert(name, bucket);
        }
        self.upload_seq
            .store(max_seq + 1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// Checks the listed parts against the upload, as CompleteMultipartUpload does.
fn check_completion(upload: &Upload, listed: &[(u32, String)]) -> Result<Vec<Arc<Part>>, OssError> {
    if listed.is_empty() {
        return Err(OssError::new(
            400,
            "MalformedXML",
            "the CompleteMultipartUpload body lists no part",
        ));
    }
    let mut parts = Vec::with_capacity(listed.len());
    let mut previous = 0u32;
    for (number, etag) in listed {
        if *number <= previous {
            return Err(OssError::new(
                400,
                "InvalidPartOrder",
                "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
            ));
        }
        previous = *number;
        let part = upload.parts.get(number).ok_or_else(|| {
            OssError::new(
                400,
                "InvalidPart",
                &format!("part {number} has not been uploaded"),
            )
        })?;
        if etag.trim_matches('"') != part.etag.trim_matches('"') {
            return Err(OssError::new(
                400,
                "InvalidPart",
                &format!("the ETag given for part {number} does not match the uploaded part"),
            ));
        }
        parts.push(part.clone());
    }
    if upload.sequential {
        for (i, p) in parts.iter().enumerate() {
            if p.number as usize != i + 1 {
                return Err(OssError::new(
                    400,
                    "PartNotSequential",
                    "a sequential upload must list parts 1, 2, 3, ... without gaps",
                ));
            }
        }
    }
    for p in &parts[..parts.len() - 1] {
        if p.size < MIN_PART_SIZE {
            return Err(OssError::new(
                400,
                "EntityTooSmall",
                &format!(
                    "part {} is {} bytes; every part but the last must be at least {MIN_PART_SIZE} bytes",
                    p.number, p.size
                ),
            ));
        }
    }
    Ok(parts)
}

/// A reader that inverts the first byte it yields.
struct FlipFirst<'a> {
    inner: &'a mut dyn Read,
    first: &'a mut bool,
}

impl Read for FlipFirst<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 && *self.first {
            buf[0] ^= 0xFF;
            *self.first = false;
        }
        Ok(n)
    }
}

fn remove_blob(blob: &Blob) {
    if let Blob::Disk(path) = blob {
        let _ = fs::remove_file(path);
    }
}

fn remove_object_files(object: &StoredObject) {
    if let Blob::Disk(path) = &object.blob {
        let _ = fs::remove_file(path.with_extension("json"));
        let _ = fs::remove_file(path);
    }
}

/// Bucket names: 3-63 characters of `a-z0-9-`, first alphanumeric, last not `-`.
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn headers_json(headers: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Array(
        headers
            .iter()
            .map(|(n, v)| serde_json::json!([n, v]))
            .collect(),
    )
}

fn headers_from_json(v: &serde_json::Value) -> Vec<(String, String)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|pair| {
                    Some((
                        pair.get(0)?.as_str()?.to_string(),
                        pair.get(1)?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn object_json(meta: &ObjectMeta, data: &Path) -> String {
    serde_json::json!({
        "key": meta.key,
        "size": meta.size,
        "etag": meta.etag,
        "crc64": meta.crc64.to_string(),
        "last_modified": epoch_secs(meta.last_modified),
        "object_type": meta.object_type,
        "content_type": meta.content_type,
        "headers": headers_json(&meta.headers),
        "data": data.file_name().map(|n| n.to_string_lossy().to_string()),
    })
    .to_string()
}

fn upload_json(upload: &Upload) -> String {
    serde_json::json!({
        "id": upload.id,
        "key": upload.key,
        "initiated": epoch_secs(upload.initiated),
        "content_type": upload.content_type,
        "headers": headers_json(&upload.headers),
        "sequential": upload.sequential,
        "seq": upload.seq,
    })
    .to_string()
}

fn part_json(part: &Part) -> String {
    let data = match &part.blob {
        Blob::Disk(p) => p.file_name().map(|n| n.to_string_lossy().to_string()),
        Blob::Memory(_) => None,
    };
    serde_json::json!({
        "number": part.number,
        "size": part.size,
        "etag": part.etag,
        "md5": hex_upper(&part.md5),
        "crc64": part.crc64.to_string(),
        "last_modified": epoch_secs(part.last_modified),
        "data": data,
    })
    .to_string()
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

fn load_objects(dir: &Path, bucket: &mut Bucket) -> io::Result<()> {
    // Newest version per key wins; anything unreferenced is an interrupted write.
    let mut found: BTreeMap<String, (u64, Arc<StoredObject>, PathBuf)> = BTreeMap::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Some(v) = read_json(&path) else {
            let _ = fs::remove_file(&path);
            continue;
        };
        let data = dir.join(v["data"].as_str().unwrap_or(""));
        let size = v["size"].as_u64().unwrap_or(u64::MAX);
        if fs::metadata(&data).map(|m| m.len()).ok() != Some(size) {
            let _ = fs::remove_file(&path);
            continue;
        }
        let modified = v["last_modified"].as_u64().unwrap_or(0);
        let meta = ObjectMeta {
            key: v["key"].as_str().unwrap_or("").to_string(),
            size,
            etag: v["etag"].as_str().unwrap_or("").to_string(),
            crc64: v["crc64"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            last_modified: UNIX_EPOCH + Duration::from_secs(modified),
            object_type: v["object_type"].as_str().unwrap_or("Normal").to_string(),
            content_type: v["content_type"].as_str().unwrap_or("").to_string(),
            headers: headers_from_json(&v["headers"]),
        };
        let object = Arc::new(StoredObject {
            meta,
            blob: Blob::Disk(data.clone()),
        });
        let key = object.meta.key.clone();
        let newer = match found.get(&key) {
            Some((t, _, _)) => modified >= *t,
            None => true,
        };
        if newer {
            if let Some((_, old, _)) = found.insert(key, (modified, object, path)) {
                remove_object_files(&old);
            }
        } else {
            remove_object_files(&object);
        }
    }
    for (key, (_, object, _)) in found {
        bucket.objects.insert(key, object);
    }
    // Data files without a record are leftovers of interrupted writes.
    let referenced: Vec<PathBuf> = bucket
        .objects
        .values()
        .filter_map(|o| match &o.blob {
            Blob::Disk(p) => Some(p.clone()),
            Blob::Memory(_) => None,
        })
        .collect();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) == Some("data") && !referenced.contains(&path)
        {
            let _ = fs::remove_file(path);
        }
    }
    Ok(())
}

fn load_uploads(dir: &Path, bucket: &mut Bucket, max_seq: &mut u64) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let up_dir = entry?.path();
        let Some(v) = read_json(&up_dir.join("upload.json")) else {
            let _ = fs::remove_dir_all(&up_dir);
            continue;
        };
        let seq = v["seq"].as_u64().unwrap_or(0);
        *max_seq = (*max_seq).max(seq);
        let mut upload = Upload {
            id: v["id"].as_str().unwrap_or("").to_string(),
            key: v["key"].as_str().unwrap_or("").to_string(),
            initiated: UNIX_EPOCH + Duration::from_secs(v["initiated"].as_u64().unwrap_or(0)),
            content_type: v["content_type"].as_str().unwrap_or("").to_string(),
            headers: headers_from_json(&v["headers"]),
            sequential: v["sequential"].as_bool().unwrap_or(false),
            parts: BTreeMap::new(),
            seq,
        };
        let mut referenced = Vec::new();
        for part_entry in fs::read_dir(&up_dir)? {
            let path = part_entry?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().to_string());
            let is_part_json = name
                .as_deref()
                .is_some_and(|n| n.starts_with("part-") && n.ends_with(".json"));
            if !is_part_json {
                continue;
            }
            let Some(p) = read_json(&path) else { continue };
            let data = up_dir.join(p["data"].as_str().unwrap_or(""));
            let size = p["size"].as_u64().unwrap_or(u64::MAX);
            if fs::metadata(&data).map(|m| m.len()).ok() != Some(size) {
                continue;
            }
            let mut md5 = [0u8; 16];
            let md5_hex = p["md5"].as_str().unwrap_or("");
            for (i, byte) in md5.iter_mut().enumerate() {
                *byte = md5_hex
                    .get(i * 2..i * 2 + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .unwrap_or(0);
            }
            let number = p["number"].as_u64().unwrap_or(0) as u32;
            referenced.push(data.clone());
            upload.parts.insert(
                number,
                Arc::new(Part {
                    number,
                    size,
                    etag: p["etag"].as_str().unwrap_or("").to_string(),
                    md5,
                    crc64: p["crc64"]
                        .as_str()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0),
                    last_modified: UNIX_EPOCH
                        + Duration::from_secs(p["last_modified"].as_u64().unwrap_or(0)),
                    blob: Blob::Disk(data),
                }),
            );
        }
        for part_entry in fs::read_dir(&up_dir)? {
            let path = part_entry?.path();
            if path.extension().and_then(|e| e.to_str()) == Some("data")
                && !referenced.contains(&path)
            {
                let _ = fs::remove_file(path);
            }
        }
        bucket.uploads.insert(upload.id.clone(), upload);
    }
    Ok(())
}
