//! Whole prefixes: a local directory up to a prefix ([`Client::upload_dir`]) and a
//! prefix down to a directory ([`Client::download_prefix`]).
//!
//! Both plan first (walk or list, select by globs, refuse unsafe names, skip what is
//! unchanged), then move the files on the engine under one thread budget: files
//! below [`DirOptions::large_threshold`] run many at a time on the worker pool, one
//! connection each; larger files follow one at a time, in parts on every thread.
//! So at most [`DirOptions::threads`] connections are open at once. Each file is an
//! ordinary resumable upload or download with its own checkpoint; one failing file
//! is reported by name and does not stop the others.

mod glob;
mod journal;
mod names;
mod plan;
mod progress;

use std::path::{Path, PathBuf};

use crate::client::{Client, RequestOptions};
use crate::config::validate_bucket;
use crate::download::DownloadOptions;
use crate::error::{Error, ErrorKind, Result};
use crate::transfer::cancel::CancelToken;
use crate::transfer::fsio::Durability;
use crate::transfer::plan::{Plan, check_threads};
use crate::transfer::pool::{PartRecord, PartWork, Pool};
use crate::transfer::progress::{Progress, Reporter};
use crate::upload::UploadOptions;

use glob::Glob;
use journal::{Entry, Journal, mtime_ns};
use progress::Meter;
pub use progress::{DirProgress, DirProgressFn};

/// How a file that is already at the destination is found unchanged (and skipped).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compare {
    /// Same size and the same CRC-64: the local file's, computed, against the
    /// object's `x-oss-hash-crc64ecma` (one HEAD per object whose size matches). An
    /// object without a CRC-64 is transferred again. The default.
    #[default]
    SizeAndCrc64,
    /// Same size, and the destination is not older than the source (a file's
    /// modification time against the object's Last-Modified): no file is read.
    SizeAndMtime,
    /// Nothing is skipped: every selected file is transferred.
    Never,
}

/// Options of [`Client::upload_dir`] and [`Client::download_prefix`]. Start from
/// `DirOptions::default()` and set the fields you need (the struct may gain fields).
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct DirOptions {
    /// The connections open at once, over all files, 1..=64. Defaults to 4.
    pub threads: usize,
    /// Globs a file's path relative to the directory (`/`-separated) must match one
    /// of, when any are given: `*` within a segment, `**` across, `?` one character;
    /// a glob without `/` matches the file name at any depth (`*.bin`). Defaults to
    /// none (every file).
    pub include: Vec<String>,
    /// Globs that leave a file out (checked after `include`); excluded files are
    /// also never deleted. Defaults to none.
    pub exclude: Vec<String>,
    /// How unchanged files are recognised and skipped. Defaults to
    /// [`Compare::SizeAndCrc64`].
    pub compare: Compare,
    /// Upload what symbolic links point to (directories too, each once). When false
    /// (the default) links are not followed and are listed in
    /// [`DirReport::symlinks_skipped`].
    pub follow_symlinks: bool,
    /// Plan only: the report says what would be transferred and deleted, and
    /// nothing is. Defaults to false.
    pub dry_run: bool,
    /// Delete what is at the destination under the prefix (objects, or local files)
    /// that the source does not have, as `sync --delete` does. Defaults to false.
    pub delete_extraneous: bool,
    /// Files (objects) of at least this size are moved one at a time in parts on
    /// every thread, the smaller ones many at a time. Defaults to 10 MiB.
    pub large_threshold: u64,
    /// Part size for large files, 100 KB..=5 GB. Defaults to automatic.
    pub part_size: Option<u64>,
    /// Where each large file's checkpoint is kept, and the batch journal: a line per
    /// file moved (its local size and modification time after the move, and the
    /// object's ETag), so a rerun (after a crash, or the next sync) skips those
    /// files without a HEAD or reading them for a CRC-64, as long as all three still
    /// hold. Defaults to the single-file defaults for checkpoints (downloads: beside
    /// the target; uploads: `~/.oss_resume/upload`) and `~/.oss_resume/dir` for the
    /// journal.
    pub checkpoint_dir: Option<PathBuf>,
    /// This task's slice of the work, `(index, count)` with `index < count`: only
    /// the files whose stable hash (the CRC-64 of the path relative to the
    /// directory, `/`-separated, the same text as the key after the prefix) modulo
    /// `count` is `index`. COUNT tasks given 0..COUNT, on any machines, together
    /// move everything exactly once with no coordinator; deletion too stays within
    /// the slice. Defaults to none (everything).
    pub shard: Option<(u32, u32)>,
    /// What a download syncs to disk, for each file as
    /// [`DownloadOptions::durability`] does: under [`Durability::Fsync`] each
    /// large file's parts are recorded only once fsynced, and every file is fsynced
    /// before its rename into place (and its directory after), so after a power cut
    /// a file is the old one or the whole new one; under [`Durability::NoFsync`]
    /// nothing is fsynced (the page cache's guarantees): a power cut may cost
    /// re-fetched parts or files, never a wrong file. The batch journal is never
    /// fsynced (losing it costs a HEAD and a CRC-64 per file on the next run).
    /// Uploads ignore it: they write no local file, and their checkpoints are
    /// always fsynced. Defaults to [`Durability::Fsync`].
    pub durability: Durability,
    /// Request options for every request (payer flag, traffic limit, cancel token;
    /// a version id is refused: a prefix has no one version).
    pub request: RequestOptions,
}

impl Default for DirOptions {
    fn default() -> DirOptions {
        DirOptions {
            threads: 4,
            include: Vec::new(),
            exclude: Vec::new(),
            compare: Compare::default(),
            follow_symlinks: false,
            dry_run: false,
            delete_extraneous: false,
            large_threshold: 10 * 1024 * 1024,
            part_size: None,
            checkpoint_dir: None,
            shard: None,
            durability: Durability::Fsync,
            request: RequestOptions::default(),
        }
    }
}

impl DirOptions {
    /// Checks the options: threads outside 1..=64, an empty glob, a part size
    /// outside 100 KB..=5 GB, a shard index not below its count, a version id, bad
    /// request options.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the option.
    pub fn validate(&self) -> Result<()> {
        check_threads(self.threads)?;
        self.globs()?;
        if let Some(p) = self.part_size {
            crate::transfer::plan::plan_part_size(0, Some(p))?;
        }
        if let Some((index, count)) = self.shard
            && index >= count
        {
            return Err(Error::invalid(format!(
                "shard {index}/{count}: the index must be below the count (0..{count})"
            )));
        }
        if self.request.version_id.is_some() {
            return Err(Error::invalid(
                "a version id cannot apply to a whole prefix",
            ));
        }
        self.request.validate()
    }

    /// The batch journal of this transfer (none for a dry run, or when it cannot be
    /// written): in the checkpoint directory, else `$HOME/.oss_resume/dir`.
    fn journal(&self, way: Direction, dir: &Path, bucket: &str, prefix: &str) -> Option<Journal> {
        if self.dry_run {
            return None;
        }
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
        let place = match (&self.checkpoint_dir, home) {
            (Some(d), _) => d.clone(),
            (None, Some(h)) => PathBuf::from(h).join(".oss_resume").join("dir"),
            (None, None) => std::env::temp_dir().join("oss_resume-dir"),
        };
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let identity = format!(
            "{way:?}\0{}\0{bucket}\0{prefix}\0{:?}",
            dir.display(),
            self.shard
        );
        Journal::open(&place, &identity)
    }

    /// Whether a relative path (`/`-separated) is in this task's shard.
    fn in_shard(&self, rel: &str) -> bool {
        match self.shard {
            None => true,
            Some((index, count)) => {
                crate::crc64::checksum(rel.as_bytes()) % u64::from(count) == u64::from(index)
            }
        }
    }

    fn globs(&self) -> Result<(Vec<Glob>, Vec<Glob>)> {
        let parse = |list: &[String], what: &str| -> Result<Vec<Glob>> {
            list.iter()
                .map(|g| Glob::new(g).map_err(|e| Error::invalid(format!("{what}: {e}"))))
                .collect()
        };
        Ok((
            parse(&self.include, "include")?,
            parse(&self.exclude, "exclude")?,
        ))
    }
}

/// A file that was not transferred, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFailure {
    /// The path relative to the directory, or the key when no path was made of it
    /// (a refused name).
    pub name: String,
    /// What went wrong, in words.
    pub reason: String,
}

/// What a whole-prefix transfer did (or, for a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirReport {
    /// Files transferred (to be transferred, in a dry run).
    pub files_transferred: u64,
    /// Their bytes.
    pub bytes_transferred: u64,
    /// Files skipped as unchanged.
    pub files_unchanged: u64,
    /// Their bytes.
    pub bytes_unchanged: u64,
    /// Extraneous files or objects deleted (to be deleted, in a dry run).
    pub deleted: Vec<String>,
    /// Files that failed or were refused (unsafe or colliding names, names that
    /// are not UTF-8, special files), each with why. The call still succeeds: check
    /// [`files_failed`](Self::files_failed).
    pub failed: Vec<FileFailure>,
    /// Symbolic links not followed (uploads without `follow_symlinks`).
    pub symlinks_skipped: Vec<String>,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

impl DirReport {
    /// How many files failed or were refused.
    pub fn files_failed(&self) -> u64 {
        self.failed.len() as u64
    }

    fn fail(&mut self, name: impl Into<String>, reason: impl Into<String>) {
        self.failed.push(FileFailure {
            name: name.into(),
            reason: reason.into(),
        });
    }
}

/// One file to move.
#[derive(Debug, Clone)]
struct Job {
    /// Relative path, `/`-separated: the name in the report.
    name: String,
    key: String,
    path: PathBuf,
    size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// A moved file's bytes and its object's ETag.
type Moved = (u64, String);

/// Moves one file on a pool worker (or, for a large one, on the caller's thread).
struct FileWork<'a> {
    client: &'a Client,
    bucket: &'a str,
    jobs: &'a [Job],
    direction: Direction,
    opts: &'a DirOptions,
}

impl FileWork<'_> {
    fn transfer(
        &self,
        job: &Job,
        threads: usize,
        cancel: Option<CancelToken>,
        progress: Option<&mut Progress<'_>>,
    ) -> Result<Moved> {
        let mut request = self.opts.request.clone();
        request.cancel = cancel;
        match self.direction {
            Direction::Down => {
                if let Some(parent) = job.path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
                }
                let o = DownloadOptions {
                    threads,
                    multiget_threshold: self.opts.large_threshold,
                    part_size: self.opts.part_size,
                    checkpoint_dir: self.opts.checkpoint_dir.clone(),
                    durability: self.opts.durability,
                    request,
                    ..DownloadOptions::default()
                };
                let r = self
                    .client
                    .download(self.bucket, &job.key, &job.path, &o, progress)?;
                Ok((r.size, r.etag))
            }
            Direction::Up => {
                let o = UploadOptions {
                    threads,
                    multipart_threshold: self.opts.large_threshold,
                    part_size: self.opts.part_size,
                    checkpoint_dir: self.opts.checkpoint_dir.clone(),
                    request,
                    ..UploadOptions::default()
                };
                let r = self
                    .client
                    .upload(&job.path, self.bucket, &job.key, &o, progress)?;
                Ok((r.size, r.etag))
            }
        }
    }
}

impl PartWork for FileWork<'_> {
    /// The file's bytes and ETag, or why it failed: a failure is an outcome, not
    /// an error, so the pool goes on with the other files.
    type Done = std::result::Result<Moved, String>;

    fn run(
        &self,
        index: u64,
        _meter: &std::sync::atomic::AtomicU64,
        cancel: &CancelToken,
    ) -> Result<Self::Done> {
        let job = &self.jobs[index as usize];
        match self.transfer(job, 1, Some(cancel.clone()), None) {
            Ok(n) => Ok(Ok(n)),
            Err(e) if e.kind() == ErrorKind::Cancelled => Err(e),
            Err(e) => Ok(Err(e.to_string())),
        }
    }
}

/// Counts finished files into the report and reports progress in files and
/// bytes, on the caller's thread.
struct Tally<'a, 'p, 'q> {
    jobs: &'a [Job],
    report: &'a mut DirReport,
    journal: Option<&'a mut Journal>,
    files_done: u64,
    bytes_done: u64,
    meter: Meter<'p, 'q>,
}

impl Tally<'_, '_, '_> {
    fn finish(&mut self, job: &Job, outcome: std::result::Result<Moved, String>) -> Result<()> {
        match outcome {
            Ok((n, etag)) => {
                self.report.files_transferred += 1;
                self.report.bytes_transferred += n;
                // What the local file is like now, for the next run to trust.
                if let (Some(j), Ok(meta)) =
                    (self.journal.as_deref_mut(), std::fs::metadata(&job.path))
                {
                    let entry = Entry {
                        size: meta.len(),
                        mtime_ns: mtime_ns(&meta),
                        etag,
                    };
                    j.record(&job.name, entry);
                }
            }
            Err(why) => self.report.fail(&job.name, why),
        }
        self.files_done += 1;
        self.bytes_done += job.size;
        self.show()
    }

    /// Reports where the run stands; the callback's `false` is a cancel.
    fn show(&mut self) -> Result<()> {
        if self.meter.report(self.files_done, self.bytes_done) {
            Ok(())
        } else {
            Err(cancelled_by_callback())
        }
    }
}

fn cancelled_by_callback() -> Error {
    Error::new(ErrorKind::Cancelled, "cancelled by the progress callback")
}

impl PartRecord<std::result::Result<Moved, String>> for Tally<'_, '_, '_> {
    fn record(&mut self, finished: Vec<(u64, std::result::Result<Moved, String>)>) -> Result<()> {
        for (index, outcome) in finished {
            let jobs = self.jobs;
            self.finish(&jobs[index as usize], outcome)?;
        }
        Ok(())
    }
}

impl Client {
    /// Moves the planned files: small ones many at a time on the pool, then large
    /// ones one at a time on every thread. Files the plan refused (already in the
    /// report) count as done from the first progress call.
    fn run_jobs(
        &self,
        work: &FileWork<'_>,
        report: &mut DirReport,
        journal: Option<&mut Journal>,
        progress: Option<&mut DirProgressFn<'_>>,
    ) -> Result<()> {
        let opts = work.opts;
        let refused = report.files_failed();
        let bytes_total = work.jobs.iter().map(|j| j.size).sum();
        let files_total = work.jobs.len() as u64 + refused;
        let (small, large): (Vec<u64>, Vec<u64>) = (0..work.jobs.len() as u64)
            .partition(|i| work.jobs[*i as usize].size < opts.large_threshold);
        let mut tally = Tally {
            jobs: work.jobs,
            report,
            journal,
            files_done: refused,
            bytes_done: 0,
            meter: Meter::new(progress, files_total, bytes_total),
        };
        tally.show()?;
        let root = opts.request.cancel.clone().unwrap_or_default();
        let pool = Pool {
            plan: Plan::new(work.jobs.len() as u64, 1),
            threads: opts.threads,
            cancel: &root,
            reused: 0,
        };
        // The pool's own progress counts files; the tally reports files and bytes.
        pool.run(work, &mut tally, small, &mut Reporter::new(None, 0))?;
        for index in large {
            let job = &work.jobs[index as usize];
            // A large file's own progress, shown within the whole's.
            let (files, base) = (tally.files_done, tally.bytes_done);
            let meter = &mut tally.meter;
            let moved = if meter.wanted() {
                let mut inner = |done: u64, _: u64| meter.report(files, base + done);
                work.transfer(job, opts.threads, Some(root.clone()), Some(&mut inner))
            } else {
                work.transfer(job, opts.threads, Some(root.clone()), None)
            };
            let outcome = match moved {
                Ok(n) => Ok(n),
                Err(e) if e.kind() == ErrorKind::Cancelled => return Err(e),
                Err(e) => Err(e.to_string()),
            };
            tally.finish(job, outcome)?;
        }
        Ok(())
    }

    /// Uploads the files under `dir` to keys `prefix` + their path relative to `dir`
    /// (`/`-separated): see [`DirOptions`] for selection, skipping unchanged files,
    /// symlinks, deletion and dry runs. Files move under one thread budget; each
    /// large one is a resumable upload with its own checkpoint. `progress` gets the
    /// files and bytes done and their totals ([`DirProgress`]), on the calling
    /// thread; returning false cancels (see [`DirProgressFn`]).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), oss_resume::Error> {
    /// # let client = oss_resume::Client::new(oss_resume::Config::builder("http://127.0.0.1:9000").build()?)?;
    /// use oss_resume::{DirOptions, DirProgress};
    ///
    /// let mut opts = DirOptions::default();
    /// opts.exclude = vec!["*.tmp".into()];
    /// let mut progress = |p: &DirProgress| {
    ///     eprint!("\r{}/{} files, {}/{} bytes",
    ///         p.files_done, p.files_total, p.bytes_done, p.bytes_total);
    ///     true // false cancels
    /// };
    /// let report = client.upload_dir("checkpoints", "examplebucket", "runs/7/", &opts,
    ///     Some(&mut progress))?;
    /// println!("{} sent, {} unchanged, {} failed",
    ///     report.files_transferred, report.files_unchanged, report.files_failed());
    /// for f in &report.failed {
    ///     eprintln!("{}: {}", f.name, f.reason);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for bad options or bucket (before any
    /// request), an unreadable `dir` ([`ErrorKind::Io`]), a failed listing of the
    /// prefix, [`ErrorKind::Cancelled`]. A file that fails is not an error of the
    /// call: it is in [`DirReport::failed`].
    pub fn upload_dir(
        &self,
        dir: impl AsRef<Path>,
        bucket: &str,
        prefix: &str,
        opts: &DirOptions,
        progress: Option<&mut DirProgressFn<'_>>,
    ) -> Result<DirReport> {
        validate_bucket(bucket)?;
        opts.validate()?;
        let mut report = DirReport {
            dry_run: opts.dry_run,
            ..DirReport::default()
        };
        let dir = dir.as_ref();
        let mut journal = opts.journal(Direction::Up, dir, bucket, prefix);
        let jobs = plan::uploads(
            self,
            dir,
            (bucket, prefix),
            opts,
            journal.as_mut(),
            &mut report,
        )?;
        self.finish_plan(
            bucket,
            jobs,
            Direction::Up,
            opts,
            (report, journal),
            progress,
        )
    }

    /// Downloads the objects under `prefix` into `dir`, each to `dir` + its key after
    /// the prefix. A key becomes a path only if it stays inside `dir`: keys with `..`
    /// or `.` segments, absolute paths, empty segments, NUL or backslash, names too
    /// long for the filesystem, keys that collide (`a/b` and `a/b/c`) and keys whose
    /// path crosses a local symbolic link are refused by name in the report, and
    /// nothing is written for them. Keys ending in `/` with no bytes (directory
    /// markers) are skipped. Otherwise as [`upload_dir`](Self::upload_dir).
    ///
    /// # Errors
    /// As [`upload_dir`](Self::upload_dir); [`ErrorKind::NotFound`] for a missing
    /// bucket.
    pub fn download_prefix(
        &self,
        bucket: &str,
        prefix: &str,
        dir: impl AsRef<Path>,
        opts: &DirOptions,
        progress: Option<&mut DirProgressFn<'_>>,
    ) -> Result<DirReport> {
        validate_bucket(bucket)?;
        opts.validate()?;
        let mut report = DirReport {
            dry_run: opts.dry_run,
            ..DirReport::default()
        };
        let dir = dir.as_ref();
        let mut journal = opts.journal(Direction::Down, dir, bucket, prefix);
        let jobs = plan::downloads(
            self,
            (bucket, prefix),
            dir,
            opts,
            journal.as_mut(),
            &mut report,
        )?;
        self.finish_plan(
            bucket,
            jobs,
            Direction::Down,
            opts,
            (report, journal),
            progress,
        )
    }

    fn finish_plan(
        &self,
        bucket: &str,
        jobs: Vec<Job>,
        direction: Direction,
        opts: &DirOptions,
        (mut report, mut journal): (DirReport, Option<Journal>),
        progress: Option<&mut DirProgressFn<'_>>,
    ) -> Result<DirReport> {
        if opts.dry_run {
            report.files_transferred = jobs.len() as u64;
            report.bytes_transferred = jobs.iter().map(|j| j.size).sum();
            return Ok(report);
        }
        let work = FileWork {
            client: self,
            bucket,
            jobs: &jobs,
            direction,
            opts,
        };
        self.run_jobs(&work, &mut report, journal.as_mut(), progress)?;
        if let Some(j) = journal {
            j.compact();
        }
        Ok(report)
    }
}
