//! Whole prefixes from C: `ossr_client_upload_dir` and
//! `ossr_client_download_prefix`, their options, and the report they make.

use super::client::{ossr_client, ossr_request_options};
use super::{
    Failure, FfiResult, arg_mut, arg_path, arg_ref, arg_str, copy_str, free_handle, guard,
    guard_value, into_handle, opt_ref, ossr_error, ossr_result, out_ptr, write_out,
};
use crate::{Compare, DirOptions, DirProgress, DirProgressFn, DirReport, Durability};
use std::ffi::{c_char, c_int, c_uint, c_void};

/// How unchanged files are recognised, for `ossr_dir_options_set_compare`.
#[repr(u32)]
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // for the header: C passes its values as numbers
pub enum ossr_compare {
    /// Same size and the same CRC-64 (the local file's against the object's). The
    /// default.
    OSSR_COMPARE_SIZE_CRC64 = 0,
    /// Same size and a destination not older than the source: no file is read.
    OSSR_COMPARE_SIZE_MTIME = 1,
    /// Nothing is skipped.
    OSSR_COMPARE_NEVER = 2,
}

/// Options of a whole-prefix transfer: made by `ossr_dir_options_new` (the
/// defaults below), freed by `ossr_dir_options_free`; only read by the calls.
pub struct ossr_dir_options {
    inner: DirOptions,
}

/// What a whole-prefix transfer did: made by `ossr_client_upload_dir` or
/// `ossr_client_download_prefix`, read with the `ossr_dir_report_*` getters, freed
/// by `ossr_dir_report_free`.
pub struct ossr_dir_report {
    inner: DirReport,
}

/// The counts of a report, filled by `ossr_dir_report_counts`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ossr_dir_counts {
    /// Set by the caller to `sizeof` this struct before the call; the library
    /// writes only the fields that fit (a struct from an older header gets the
    /// fields it knows). 0 or less than this version's size is refused with
    /// `OSSR_ERR_INVALID_ARGUMENT` before anything is written.
    pub struct_size: usize,
    /// Files transferred (to be transferred, in a dry run).
    pub files_transferred: u64,
    /// Their bytes.
    pub bytes_transferred: u64,
    /// Files skipped as unchanged.
    pub files_unchanged: u64,
    /// Their bytes.
    pub bytes_unchanged: u64,
    /// Extraneous files or objects deleted (`ossr_dir_report_deleted`).
    pub deleted: u64,
    /// Files that failed or were refused (`ossr_dir_report_failed_name`).
    pub failed: u64,
    /// Symbolic links not followed.
    pub symlinks_skipped: u64,
    /// Whether it was a dry run.
    pub dry_run: bool,
}

/// Where a whole-prefix transfer stands, given to an `ossr_dir_progress_cb`.
///
/// The totals are what the plan decided to transfer (unchanged files are not in
/// them), plus, in `files_total`, the files the plan refused (unsafe names, ...),
/// which count as done from the first call: at the end of a run `files_total` is
/// `ossr_dir_counts.files_transferred + ossr_dir_counts.failed`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ossr_dir_progress {
    /// Set by the library to the size of the struct it filled. Fields may be added
    /// at the end in later versions; a program reads the ones its header declares.
    pub struct_size: usize,
    /// Files finished, transferred or failed.
    pub files_done: u64,
    /// Files to finish.
    pub files_total: u64,
    /// Bytes moved: those of the finished files (a failed file's count in full)
    /// and the part of a large file moved so far.
    pub bytes_done: u64,
    /// Bytes of the files to transfer.
    pub bytes_total: u64,
}

/// The progress callback of `ossr_client_upload_dir` and
/// `ossr_client_download_prefix`. `progress` is valid only during the call (copy
/// what you keep). Return 0 to go on; any other value cancels the transfer, which
/// then fails with `OSSR_ERR_CANCELLED`.
///
/// It runs on the thread that made the call, one call at a time: once when the
/// plan is made, once per finished file, and while a large file moves in parts at
/// least every 1% of that file or 100 ms; only when a value changed (the first call
/// excepted). Values never decrease and never exceed the totals; unless the call
/// fails or is cancelled, the last call is at both totals, failed files included.
pub type ossr_dir_progress_cb = Option<
    unsafe extern "C" fn(userdata: *mut c_void, progress: *const ossr_dir_progress) -> c_int,
>;

/// Runs `f` with the Rust progress closure for a C directory callback (or none).
fn with_dir_progress<T>(
    progress: ossr_dir_progress_cb,
    userdata: *mut c_void,
    f: impl FnOnce(Option<&mut DirProgressFn<'_>>) -> T,
) -> T {
    let Some(cb) = progress else {
        return f(None);
    };
    let mut closure = move |p: &DirProgress| {
        let c = ossr_dir_progress {
            struct_size: std::mem::size_of::<ossr_dir_progress>(),
            files_done: p.files_done,
            files_total: p.files_total,
            bytes_done: p.bytes_done,
            bytes_total: p.bytes_total,
        };
        // SAFETY: the caller gave us this function pointer and userdata for this
        // call; we call it on the calling thread, as the header promises, with a
        // pointer to a struct that lives until it returns.
        unsafe { cb(userdata, &c) == 0 }
    };
    f(Some(&mut closure))
}

/// Makes whole-prefix options with the defaults: 4 connections, no globs, compare
/// by size and CRC-64, symlinks not followed, no dry run, no deletion, large files
/// from 10 MiB, automatic part size, the single-file checkpoint places, no shard,
/// downloads fsynced.
///
/// - `out`: receives the handle; the caller frees it with `ossr_dir_options_free`.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_options_new(
    out: *mut *mut ossr_dir_options,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let out = out_ptr(out, "out")?;
        write_out(
            out,
            into_handle(ossr_dir_options {
                inner: DirOptions::default(),
            }),
        );
        Ok(())
    })
}

/// Frees whole-prefix options. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_options_free(opts: *mut ossr_dir_options) {
    guard_value((), || free_handle(opts))
}

fn edit(
    opts: *mut ossr_dir_options,
    err: *mut ossr_error,
    change: impl FnOnce(&mut DirOptions) -> FfiResult,
) -> ossr_result {
    guard(err, || change(&mut arg_mut(opts, "opts")?.inner))
}

/// Sets the connections open at once over all files, 1..=64. Defaults to 4.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_options_set_threads(
    opts: *mut ossr_dir_options,
    threads: u32,
    err: *mut ossr_error,
) -> ossr_result {
    edit(opts, err, |o| {
        crate::transfer::plan::check_threads(threads as usize)?;
        o.threads = threads as usize;
        Ok(())
    })
}

/// Adds an include glob (copied): when any are given, only files whose path below
/// the directory matches one are transferred (`*` within a name, `**` across `/`,
/// `?` one character; a glob without `/` matches the file name at any depth).
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, `OSSR_ERR_INVALID_UTF8`, or
/// `OSSR_ERR_INVALID_ARGUMENT` for an empty glob.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_options_add_include(
    opts: *mut ossr_dir_options,
    glob: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    edit(opts, err, |o| {
        o.include.push(glob_arg(glob)?);
        Ok(())
    })
}

/// Adds an exclude glob (copied): matching files are left out, and never deleted.
/// Return codes as for `ossr_dir_options_add_include`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_options_add_exclude(
    opts: *mut ossr_dir_options,
    glob: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    edit(opts, err, |o| {
        o.exclude.push(glob_arg(glob)?);
        Ok(())
    })
}

fn glob_arg(glob: *const c_char) -> FfiResult<String> {
    let text = arg_str(glob, "glob")?;
    if text.is_empty() {
        return Err(Failure::Invalid("the glob is empty".into()));
    }
    Ok(text.to_string())
}

/// Sets how unchanged files are found: an `ossr_compare` value. Defaults to
/// `OSSR_COMPARE_SIZE_CRC64`.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT` for
/// any other value.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_options_set_compare(
    opts: *mut ossr_dir_options,
    compare: c_uint,
    err: *mut ossr_error,
) -> ossr_result {
    edit(opts, err, |o| {
        o.compare = match compare {
            0 => Compare::SizeAndCrc64,
            1 => Compare::SizeAndMtime,
            2 => Compare::Never,
            other => {
                return Err(Failure::Invalid(format!(
                    "compare {other} is not 0, 1 or 2"
                )));
            }
        };
        Ok(())
    })
}

/// Sets three switches: follow symbolic links when uploading, plan only (a dry run:
/// nothing is transferred or deleted), and delete what the destination has under
/// the prefix that the source does not. All default to false.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_options_set_switches(
    opts: *mut ossr_dir_options,
    follow_symlinks: bool,
    dry_run: bool,
    delete_extraneous: bool,
    err: *mut ossr_error,
) -> ossr_result {
    edit(opts, err, |o| {
        o.follow_symlinks = follow_symlinks;
        o.dry_run = dry_run;
        o.delete_extraneous = delete_extraneous;
        Ok(())
    })
}

/// Files of at least `bytes` move one at a time in parts on every connection (the
/// others many at a time). Defaults to 10 MiB.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_options_set_large_threshold(
    opts: *mut ossr_dir_options,
    bytes: u64,
    err: *mut ossr_error,
) -> ossr_result {
    edit(opts, err, |o| {
        o.large_threshold = bytes;
        Ok(())
    })
}

/// Moves only this task's slice: the files whose stable hash modulo `count` is
/// `index`. `count` tasks given 0..`count` together move everything once.
/// `count` 0 means no shard (the default).
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT` when
/// `index` is not below `count`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_options_set_shard(
    opts: *mut ossr_dir_options,
    index: u32,
    count: u32,
    err: *mut ossr_error,
) -> ossr_result {
    edit(opts, err, |o| {
        if count > 0 && index >= count {
            return Err(Failure::Invalid(format!(
                "shard {index}/{count}: the index must be below the count"
            )));
        }
        o.shard = (count > 0).then_some((index, count));
        Ok(())
    })
}

/// Sets where each large file's checkpoint is kept (copied). Defaults to the
/// single-file places.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, `OSSR_ERR_INVALID_UTF8`, or
/// `OSSR_ERR_INVALID_ARGUMENT` for an empty path.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_options_set_checkpoint_dir(
    opts: *mut ossr_dir_options,
    dir: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    edit(opts, err, |o| {
        o.checkpoint_dir = Some(arg_path(dir, "dir")?);
        Ok(())
    })
}

/// Chooses what a download syncs to disk, for each file as
/// `ossr_download_options_set_no_fsync` does. Defaults to false (fsync):
///
/// - false (fsync): each large file's parts are recorded in its checkpoint only
///   once fsynced, and every file is fsynced before its rename into place (and its
///   directory after): after a power cut a file is the old one or the whole new
///   one.
/// - true (no fsync): nothing is fsynced, the page cache's guarantees (as curl and
///   aria2c give): a power cut may cost re-fetched parts or files, never a wrong
///   file.
///
/// The batch journal is never fsynced. Uploads ignore this: they write no local
/// file, and their checkpoints are always fsynced.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_options_set_no_fsync(
    opts: *mut ossr_dir_options,
    no_fsync: bool,
    err: *mut ossr_error,
) -> ossr_result {
    edit(opts, err, |o| {
        o.durability = if no_fsync {
            Durability::NoFsync
        } else {
            Durability::Fsync
        };
        Ok(())
    })
}

/// Copies request options (requester-pays, traffic limit, cancel token) into the
/// options; `req` may be freed afterwards. A version id is refused when the
/// transfer starts. Defaults to none.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_options_set_request(
    opts: *mut ossr_dir_options,
    req: *const ossr_request_options,
    err: *mut ossr_error,
) -> ossr_result {
    edit(opts, err, |o| {
        o.request = arg_ref(req, "req")?.inner.clone();
        Ok(())
    })
}

/// Uploads the files under `dir` to keys `prefix` + their path below `dir`, under
/// one budget of connections; unchanged files are skipped, each large file is a
/// resumable upload with its own checkpoint, and a file that fails is reported by
/// name while the others go on.
///
/// - `dir`, `bucket`, `prefix`: borrowed for the call.
/// - `opts`: options, or NULL for the defaults.
/// - `progress`, `userdata`: optional progress callback (NULL for none), with files
///   and bytes done and their totals: see `ossr_dir_progress_cb`. A non-zero return
///   cancels: the call returns `OSSR_ERR_CANCELLED`, and each large file's
///   checkpoint is kept, so calling again resumes.
/// - `out`: receives the report, freed with `ossr_dir_report_free`. Written only on
///   success, which includes files failing: see `ossr_dir_counts.failed`.
///
/// Returns `OSSR_OK`; `OSSR_ERR_CANCELLED`; `OSSR_ERR_IO` (an unreadable `dir`);
/// `OSSR_ERR_NOT_FOUND` (no such bucket); the server's and network codes (the
/// listing of the prefix failed); the argument codes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn ossr_client_upload_dir(
    client: *const ossr_client,
    dir: *const c_char,
    bucket: *const c_char,
    prefix: *const c_char,
    opts: *const ossr_dir_options,
    progress: ossr_dir_progress_cb,
    userdata: *mut c_void,
    out: *mut *mut ossr_dir_report,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        let dir = arg_path(dir, "dir")?;
        let bucket = arg_str(bucket, "bucket")?;
        let prefix = arg_str(prefix, "prefix")?;
        let out = out_ptr(out, "out")?;
        let defaults = DirOptions::default();
        let opts = opt_ref(opts).map(|o| &o.inner).unwrap_or(&defaults);
        let report = with_dir_progress(progress, userdata, |p| {
            client.inner.upload_dir(&dir, bucket, prefix, opts, p)
        })?;
        write_out(out, into_handle(ossr_dir_report { inner: report }));
        Ok(())
    })
}

/// Downloads the objects under `prefix` into `dir`, each to `dir` + its key after
/// the prefix. A key becomes a path only if it stays inside `dir`: keys with `..`
/// or `.` segments, absolute paths, empty segments, NUL or backslash, names too long,
/// colliding keys and paths through a local symbolic link are refused by name in
/// the report and nothing is written for them. Otherwise as
/// `ossr_client_upload_dir`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn ossr_client_download_prefix(
    client: *const ossr_client,
    bucket: *const c_char,
    prefix: *const c_char,
    dir: *const c_char,
    opts: *const ossr_dir_options,
    progress: ossr_dir_progress_cb,
    userdata: *mut c_void,
    out: *mut *mut ossr_dir_report,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        let bucket = arg_str(bucket, "bucket")?;
        let prefix = arg_str(prefix, "prefix")?;
        let dir = arg_path(dir, "dir")?;
        let out = out_ptr(out, "out")?;
        let defaults = DirOptions::default();
        let opts = opt_ref(opts).map(|o| &o.inner).unwrap_or(&defaults);
        let report = with_dir_progress(progress, userdata, |p| {
            client.inner.download_prefix(bucket, prefix, &dir, opts, p)
        })?;
        write_out(out, into_handle(ossr_dir_report { inner: report }));
        Ok(())
    })
}

/// Fills `*out` with the report's counts; set `out->struct_size` to
/// `sizeof(ossr_dir_counts)` first.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT` when
/// `out->struct_size` is too small (0 included).
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_report_counts(
    report: *const ossr_dir_report,
    out: *mut ossr_dir_counts,
) -> ossr_result {
    guard_value(ossr_result::OSSR_ERR_PANIC, || {
        let (Some(r), false) = (opt_ref(report), out.is_null()) else {
            return ossr_result::OSSR_ERR_NULL_ARGUMENT;
        };
        if super::check_report(out, "out").is_err() {
            return ossr_result::OSSR_ERR_INVALID_ARGUMENT;
        }
        let r = &r.inner;
        super::write_report(
            out,
            ossr_dir_counts {
                struct_size: 0,
                files_transferred: r.files_transferred,
                bytes_transferred: r.bytes_transferred,
                files_unchanged: r.files_unchanged,
                bytes_unchanged: r.bytes_unchanged,
                deleted: r.deleted.len() as u64,
                failed: r.files_failed(),
                symlinks_skipped: r.symlinks_skipped.len() as u64,
                dry_run: r.dry_run,
            },
        );
        ossr_result::OSSR_OK
    })
}

impl super::Report for ossr_dir_counts {
    const NAME: &'static str = "ossr_dir_counts";
    const MIN_SIZE: usize = std::mem::size_of::<ossr_dir_counts>();
    fn set_struct_size(&mut self, size: usize) {
        self.struct_size = size;
    }
}

// Written out one by one (not by a macro) so that cbindgen sees each function.
fn report_text(
    report: *const ossr_dir_report,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
    field: impl FnOnce(&DirReport, usize) -> Option<&str>,
) -> ossr_result {
    guard_value(ossr_result::OSSR_ERR_PANIC, || {
        let Some(r) = opt_ref(report) else {
            return ossr_result::OSSR_ERR_NULL_ARGUMENT;
        };
        match field(&r.inner, index) {
            Some(text) => copy_str(text, buf, len, out_len),
            None => ossr_result::OSSR_ERR_INVALID_ARGUMENT,
        }
    })
}

/// Copies the name of failed file `index` (0-based, below `ossr_dir_counts.failed`)
/// into `buf`: its path below the directory, or the key when no path was made of
/// it. Buffer rules as for `ossr_error_oss_code`; `OSSR_ERR_INVALID_ARGUMENT` for an
/// index past the end.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_report_failed_name(
    report: *const ossr_dir_report,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    report_text(report, index, buf, len, out_len, |r, i| {
        r.failed.get(i).map(|f| f.name.as_str())
    })
}

/// Copies why failed file `index` failed into `buf`. Rules as for
/// `ossr_dir_report_failed_name`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_report_failed_reason(
    report: *const ossr_dir_report,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    report_text(report, index, buf, len, out_len, |r, i| {
        r.failed.get(i).map(|f| f.reason.as_str())
    })
}

/// Copies deleted entry `index` (below `ossr_dir_counts.deleted`: a key, or a path
/// below the directory) into `buf`. Rules as for `ossr_dir_report_failed_name`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_report_deleted(
    report: *const ossr_dir_report,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    report_text(report, index, buf, len, out_len, |r, i| {
        r.deleted.get(i).map(String::as_str)
    })
}

/// Copies skipped symbolic link `index` (below `ossr_dir_counts.symlinks_skipped`)
/// into `buf`. Rules as for `ossr_dir_report_failed_name`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_report_symlink(
    report: *const ossr_dir_report,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    report_text(report, index, buf, len, out_len, |r, i| {
        r.symlinks_skipped.get(i).map(String::as_str)
    })
}

/// Frees a report. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_dir_report_free(report: *mut ossr_dir_report) {
    guard_value((), || free_handle(report))
}
