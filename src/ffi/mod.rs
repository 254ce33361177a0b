//! The C ABI: `ossr_*` functions over opaque handles, generated into
//! `include/oss_resume.h` by cbindgen.
//!
//! Every export has the same rhythm: a panic boundary (`guard`), checked
//! conversions of its pointer and string arguments (the helpers below), one call
//! into the Rust API, and a mapped result code (`result::code_of`). This module and
//! its children are the only place in the crate with `unsafe`.
//!
//! C callers are responsible for the pointers they pass (that is the contract the
//! header states), so exported functions are safe `extern "C"` functions that take raw
//! pointers; clippy's `not_unsafe_ptr_arg_deref` is allowed for that reason.
#![allow(clippy::not_unsafe_ptr_arg_deref)]
#![allow(non_camel_case_types)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod cancel;
mod client;
mod copy;
mod dir;
mod file;
mod list;
mod multipart;
mod result;
mod stream;
mod transfer;

pub use result::*;

use std::ffi::{CStr, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

/// Why an export failed before or after calling into Rust.
pub(crate) enum Failure {
    /// A required pointer argument was NULL; names the argument.
    Null(&'static str),
    /// A string argument was not UTF-8; names the argument.
    Utf8(&'static str),
    /// An argument's value is out of range; says which and why.
    Invalid(String),
    /// A caller's buffer cannot hold the whole result; says what and how much.
    TooSmall(String),
    /// The library's own error.
    Lib(crate::Error),
    /// Rust code panicked; the panic was caught at the boundary.
    Panic,
}

impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Failure {
        Failure::Lib(e)
    }
}

pub(crate) type FfiResult<T = ()> = Result<T, Failure>;

/// Runs `body` behind a panic boundary, maps its outcome to a code and, on failure,
/// fills `err` when it is not NULL.
pub(crate) fn guard(err: *mut ossr_error, body: impl FnOnce() -> FfiResult) -> ossr_result {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        body().err().map(ossr_error::from_failure)
    }));
    let record = match outcome {
        Ok(None) => return ossr_result::OSSR_OK,
        Ok(Some(record)) => record,
        Err(_) => ossr_error::from_failure(Failure::Panic),
    };
    let code = record.code;
    if !err.is_null() {
        // SAFETY: `err` is not NULL and, per the header, points to a live `ossr_error`
        // made by `ossr_error_new` that no other thread uses during this call.
        unsafe { *err = record };
    }
    code
}

/// Like [`guard`] for functions that cannot report through an error object (getters
/// and frees): a panic becomes `fallback`.
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Borrows a handle argument.
pub(crate) fn arg_ref<'a, T>(ptr: *const T, name: &'static str) -> FfiResult<&'a T> {
    // SAFETY: the header requires handle arguments to be NULL or a live handle of
    // this type made by this library and not being freed; NULL is checked by `as_ref`.
    unsafe { ptr.as_ref() }.ok_or(Failure::Null(name))
}

/// Borrows a handle argument mutably.
pub(crate) fn arg_mut<'a, T>(ptr: *mut T, name: &'static str) -> FfiResult<&'a mut T> {
    // SAFETY: as in `arg_ref`; the header also says a handle passed to a mutating call
    // must not be used by another thread during that call.
    unsafe { ptr.as_mut() }.ok_or(Failure::Null(name))
}

/// Borrows an optional handle argument (NULL means "defaults").
pub(crate) fn opt_ref<'a, T>(ptr: *const T) -> Option<&'a T> {
    // SAFETY: as in `arg_ref`; NULL is allowed here and becomes None.
    unsafe { ptr.as_ref() }
}

/// Reads a required NUL-terminated UTF-8 string argument.
pub(crate) fn arg_str<'a>(ptr: *const c_char, name: &'static str) -> FfiResult<&'a str> {
    if ptr.is_null() {
        return Err(Failure::Null(name));
    }
    // SAFETY: not NULL, and the header requires string arguments to be NUL-terminated
    // and valid for the duration of the call.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes.to_str().map_err(|_| Failure::Utf8(name))
}

/// Reads an optional string argument: NULL gives None.
pub(crate) fn opt_str<'a>(ptr: *const c_char, name: &'static str) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        arg_str(ptr, name).map(Some)
    }
}

/// Reads a request header's name and value and checks them (see
/// `config::validate_user_headers`).
pub(crate) fn arg_header(name: *const c_char, value: *const c_char) -> FfiResult<(String, String)> {
    let header = vec![(
        arg_str(name, "name")?.to_string(),
        arg_str(value, "value")?.to_string(),
    )];
    crate::config::validate_user_headers(&header)?;
    Ok(header
        .into_iter()
        .next()
        .expect("one header was made above"))
}

/// Reads a required path argument (UTF-8, like every string of this API).
pub(crate) fn arg_path(ptr: *const c_char, name: &'static str) -> FfiResult<PathBuf> {
    let text = arg_str(ptr, name)?;
    if text.is_empty() {
        return Err(Failure::Invalid(format!("{name} is empty")));
    }
    Ok(PathBuf::from(text))
}

/// Checks that an output pointer is not NULL.
pub(crate) fn out_ptr<T>(ptr: *mut T, name: &'static str) -> FfiResult<*mut T> {
    if ptr.is_null() {
        Err(Failure::Null(name))
    } else {
        Ok(ptr)
    }
}

/// Stores a value through an optional output pointer: nothing is written when the
/// caller passed NULL.
pub(crate) fn write_given<T>(out: *mut T, value: T) {
    if !out.is_null() {
        write_out(out, value);
    }
}

/// Stores an optional value through an optional output pointer: true when there was
/// a value and somewhere to put it, false (and nothing written) otherwise.
pub(crate) fn write_opt<T>(out: *mut T, value: Option<T>) -> bool {
    match value {
        Some(v) if !out.is_null() => {
            write_out(out, v);
            true
        }
        _ => false,
    }
}

/// Writes an output value. The pointer was checked by [`out_ptr`].
pub(crate) fn write_out<T>(ptr: *mut T, value: T) {
    // SAFETY: `ptr` was checked non-NULL by `out_ptr`, and the header requires output
    // pointers to point to writable memory of the right type.
    unsafe { ptr.write(value) }
}

/// A C report struct: `#[repr(C)]`, its first field `size_t struct_size`, which the
/// caller sets to `sizeof` the struct as its header declares it. A later version may
/// add fields at the end; the library writes only what the caller's struct holds.
pub(crate) trait Report: Sized {
    /// The struct's C name, for error messages.
    const NAME: &'static str;
    /// The smallest `struct_size` accepted: the struct's size in the first version
    /// with `struct_size` (this one).
    const MIN_SIZE: usize;
    /// Sets `struct_size`.
    fn set_struct_size(&mut self, size: usize);
}

/// The `struct_size` the caller set in a report (not NULL).
fn struct_size_of<T: Report>(out: *mut T) -> usize {
    // SAFETY: not NULL (the callers check), and the header requires a report pointer
    // to point to a writable struct whose first field, a size_t, the caller set.
    unsafe { out.cast::<usize>().read() }
}

/// Checks an optional report argument before the call does anything: NULL passes; a
/// `struct_size` below the struct's first version (0 included) is refused, naming
/// the argument.
pub(crate) fn check_report<T: Report>(out: *mut T, name: &'static str) -> FfiResult {
    if out.is_null() {
        return Ok(());
    }
    let size = struct_size_of(out);
    if size < T::MIN_SIZE {
        return Err(Failure::Invalid(format!(
            "{name}->struct_size is {size}: set it to sizeof({}) (at least {})",
            T::NAME,
            T::MIN_SIZE
        )));
    }
    Ok(())
}

/// Writes a report checked by [`check_report`] (nothing when NULL): the fields that
/// fit in the caller's `struct_size`, which is kept as the caller set it.
pub(crate) fn write_report<T: Report>(out: *mut T, mut value: T) {
    if out.is_null() {
        return;
    }
    let size = struct_size_of(out);
    value.set_struct_size(size);
    let len = size.min(std::mem::size_of::<T>());
    // SAFETY: `out` is not NULL and points to at least `size` writable bytes (the
    // caller's struct_size, checked to be at least the struct's first version by
    // check_report); we copy `len <= size` bytes of a whole `T` into it.
    unsafe {
        std::ptr::copy_nonoverlapping((&value as *const T).cast::<u8>(), out.cast::<u8>(), len)
    }
}

/// Moves a Rust value into a new handle for C.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Frees a handle made by [`into_handle`]; NULL is a no-op.
pub(crate) fn free_handle<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: the header requires `_free` to get NULL or a handle of this type
        // made by this library, not yet freed, and not in use by another thread.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// Copies `text` into a caller's buffer of `len` bytes as a NUL-terminated string,
/// cut at a character boundary when it does not fit, and stores the full length
/// (without the NUL) in `out_len` when that is not NULL.
pub(crate) fn copy_str(
    text: &str,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    write_given(out_len, text.len());
    if buf.is_null() && len > 0 {
        return ossr_result::OSSR_ERR_NULL_ARGUMENT;
    }
    if len == 0 {
        // No room even for the NUL: only an empty text asked for with no buffer fits.
        return if buf.is_null() && text.is_empty() {
            ossr_result::OSSR_OK
        } else {
            ossr_result::OSSR_ERR_BUFFER_TOO_SMALL
        };
    }
    let cut = floor_char_boundary(text, len - 1);
    // SAFETY: `buf` is not NULL and the header requires it to hold `len` bytes; we
    // write `cut + 1 <= len` bytes and the source is a distinct Rust string.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), cut);
        buf.add(cut).write(0);
    }
    if cut < text.len() {
        ossr_result::OSSR_ERR_BUFFER_TOO_SMALL
    } else {
        ossr_result::OSSR_OK
    }
}

/// Fills a fixed-size array inside a result struct with a NUL-terminated copy of
/// `text`, cut at a character boundary.
pub(crate) fn fill_array<const N: usize>(array: &mut [c_char; N], text: &str) {
    let cut = floor_char_boundary(text, N - 1);
    for (slot, byte) in array.iter_mut().zip(text.as_bytes()[..cut].iter()) {
        *slot = *byte as c_char;
    }
    for slot in array.iter_mut().skip(cut) {
        *slot = 0;
    }
}

fn floor_char_boundary(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

/// A progress callback: called with the bytes done and the total (0 while unknown).
/// Return 0 to go on; any other value cancels the transfer, which then fails with
/// `OSSR_ERR_CANCELLED`. It runs on the thread that made the call, one call at a time.
pub type ossr_progress_cb =
    Option<unsafe extern "C" fn(userdata: *mut c_void, done: u64, total: u64) -> c_int>;

/// A read callback for puts from a stream: write up to `len` bytes into `buf`, store
/// how many in `*out_n` (0 means end of data), and return 0; a non-zero return fails
/// the put with `OSSR_ERR_IO`. It runs on the thread that made the call.
pub type ossr_read_cb = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        buf: *mut u8,
        len: usize,
        out_n: *mut usize,
    ) -> c_int,
>;

/// Calls a C progress callback; true means "go on".
pub(crate) fn call_progress(
    cb: unsafe extern "C" fn(*mut c_void, u64, u64) -> c_int,
    userdata: *mut c_void,
    done: u64,
    total: u64,
) -> bool {
    // SAFETY: the caller gave us this function pointer and userdata for this call; we
    // call it on the calling thread, as the header promises.
    unsafe { cb(userdata, done, total) == 0 }
}

/// Turns a C read callback into a `std::io::Read`.
pub(crate) struct CallbackReader {
    pub(crate) cb: unsafe extern "C" fn(*mut c_void, *mut u8, usize, *mut usize) -> c_int,
    pub(crate) userdata: *mut c_void,
}

impl std::io::Read for CallbackReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut n: usize = 0;
        // SAFETY: the callback and userdata come from the caller for this call; `buf`
        // is a valid writable slice of `buf.len()` bytes and `n` a valid size_t.
        let rc = unsafe { (self.cb)(self.userdata, buf.as_mut_ptr(), buf.len(), &mut n) };
        if rc != 0 {
            return Err(std::io::Error::other(format!(
                "the read callback returned {rc}"
            )));
        }
        if n > buf.len() {
            return Err(std::io::Error::other(format!(
                "the read callback claimed {n} bytes for a {}-byte buffer",
                buf.len()
            )));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_stops_at_the_boundary_and_is_reported() {
        let err = ossr_error_new();
        let code = guard(err, || panic!("a bug"));
        assert_eq!(code, ossr_result::OSSR_ERR_PANIC);
        assert_eq!(ossr_error_code(err), ossr_result::OSSR_ERR_PANIC);
        // Without an error object the code still comes back.
        assert_eq!(
            guard(std::ptr::null_mut(), || panic!("again")),
            ossr_result::OSSR_ERR_PANIC
        );
        assert_eq!(guard_value(7, || panic!("in a getter")), 7);
        ossr_error_free(err);
    }

    /// The name of the function a body calls first: `guard(err, || ...)` gives
    /// `guard`.
    fn first_call(body: &str) -> &str {
        let body = body.trim_start();
        let end = body
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(body.len());
        body[..end].rsplit("::").next().unwrap_or("")
    }

    /// Each `fn name(...) ... {` in `source` with the text after its opening brace.
    fn functions(source: &str) -> Vec<(bool, &str, &str)> {
        let mut out = Vec::new();
        let mut rest = source;
        while let Some(at) = rest.find("fn ") {
            let before = &rest[..at];
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let exported = before[line_start..].contains("extern \"C\"");
            let after = &rest[at + 3..];
            let name_end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..name_end];
            match after.find('{') {
                Some(open) if !name.is_empty() && !after[..open].contains(';') => {
                    out.push((exported, name, &after[open + 1..]));
                }
                _ => {}
            }
            rest = after;
        }
        out
    }

    #[test]
    fn every_export_starts_at_the_panic_boundary() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/ffi");
        let mut exports = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let source = std::fs::read_to_string(&path).unwrap();
            let source = source.split("#[cfg(test)]").next().unwrap();
            let fns = functions(source);
            // Helpers whose whole body is behind the boundary.
            let guarded: Vec<&str> = ["guard", "guard_value"]
                .into_iter()
                .chain(
                    fns.iter()
                        .filter(|(exported, _, body)| {
                            !exported && matches!(first_call(body), "guard" | "guard_value")
                        })
                        .map(|(_, name, _)| *name),
                )
                .collect();
            for (exported, name, body) in &fns {
                if !exported {
                    continue;
                }
                exports += 1;
                let first = first_call(body);
                assert!(
                    guarded.contains(&first),
                    "{}: {name} starts with {first}(...), not at the panic boundary",
                    path.display()
                );
            }
        }
        // Every export was seen (the header declares this many and more).
        assert!(exports >= 99, "only {exports} exports found");
    }

    #[test]
    fn text_is_cut_at_a_character_boundary_and_the_full_length_reported() {
        let mut buf = [0 as c_char; 4];
        let mut len = 0usize;
        // "aé" is 3 bytes; "aéb" is 4 and needs 5 with the NUL.
        let rc = copy_str("aéb", buf.as_mut_ptr(), buf.len(), &mut len);
        assert_eq!(rc, ossr_result::OSSR_ERR_BUFFER_TOO_SMALL);
        assert_eq!(len, 4);
        // SAFETY: copy_str wrote a NUL within the buffer.
        let text = unsafe { CStr::from_ptr(buf.as_ptr()) };
        assert_eq!(text.to_str().unwrap(), "aé");
        let mut small = [0 as c_char; 2];
        copy_str("é", small.as_mut_ptr(), small.len(), &mut len);
        assert_eq!(small[0], 0, "half a character is never written");
        let mut array = [1 as c_char; 3];
        fill_array(&mut array, "xyz");
        assert_eq!(array, [b'x' as c_char, b'y' as c_char, 0]);
    }
}
