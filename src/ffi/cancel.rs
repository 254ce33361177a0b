//! The cancel token: stops blocking calls from any thread.

use super::client::ossr_request_options;
use super::{
    arg_mut, free_handle, guard, guard_value, into_handle, opt_ref, ossr_error, ossr_result,
    out_ptr, write_out,
};
use crate::CancelToken;

/// Stops the calls that use it, from any thread. Made by `ossr_cancel_token_new`,
/// freed by `ossr_cancel_token_free`; set on a call with
/// `ossr_request_options_set_cancel_token` (see "Cancelling" at the top of this
/// header).
///
/// Unlike other handles, a token may be used by many threads at once:
/// `ossr_cancel_token_cancel` and `ossr_cancel_token_is_cancelled` may run on any
/// thread while other threads are inside calls that use it. It must not be freed
/// while another thread uses the handle itself (calls that only got it through
/// request options hold their own reference and do not mind). A cancelled token stays
/// cancelled: make a new one (or clear it from the options) for the next call.
pub struct ossr_cancel_token {
    inner: CancelToken,
}

/// Makes a token, not yet cancelled.
///
/// - `out`: receives the handle; the caller frees it with `ossr_cancel_token_free`.
///   Written only on success.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_cancel_token_new(
    out: *mut *mut ossr_cancel_token,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let out = out_ptr(out, "out")?;
        write_out(
            out,
            into_handle(ossr_cancel_token {
                inner: CancelToken::new(),
            }),
        );
        Ok(())
    })
}

/// Cancels every call that uses the token, now and later: each returns
/// `OSSR_ERR_CANCELLED` within about 200 ms, even while the server sends nothing.
/// Safe from any thread, also while other threads are inside calls that use the
/// token; cancelling again does nothing more. Does not block.
///
/// - `token`: borrowed for the call.
///
/// Returns `OSSR_OK`, or `OSSR_ERR_NULL_ARGUMENT` when `token` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_cancel_token_cancel(token: *const ossr_cancel_token) -> ossr_result {
    guard_value(ossr_result::OSSR_ERR_PANIC, || match opt_ref(token) {
        Some(t) => {
            t.inner.cancel();
            ossr_result::OSSR_OK
        }
        None => ossr_result::OSSR_ERR_NULL_ARGUMENT,
    })
}

/// Whether `ossr_cancel_token_cancel` was called on the token (false when `token` is
/// NULL). Safe from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_cancel_token_is_cancelled(token: *const ossr_cancel_token) -> bool {
    guard_value(false, || {
        opt_ref(token).is_some_and(|t| t.inner.is_cancelled())
    })
}

/// Frees a token handle. NULL is a no-op. No other thread may be using this handle.
/// Request options the token was set on keep their own reference: calls using them
/// are not affected (a cancel made before the free still holds), but nobody can
/// cancel them any more through this handle.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_cancel_token_free(token: *mut ossr_cancel_token) {
    guard_value((), || free_handle(token))
}

/// Makes the calls these request options are given to cancellable by `token`
/// (NULL clears it). Defaults to none.
///
/// - `opts`: the request options, changed.
/// - `token`: borrowed for the call; the options keep their own reference to the
///   token, so the handle may be freed afterwards (the calls then cannot be cancelled
///   by anyone, but a token already cancelled stays so). Options copied from these
///   (`ossr_download_options_set_request` and the like) share the token.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT` (for `opts`).
#[unsafe(no_mangle)]
pub extern "C" fn ossr_request_options_set_cancel_token(
    opts: *mut ossr_request_options,
    token: *const ossr_cancel_token,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let o = arg_mut(opts, "opts")?;
        o.inner.cancel = opt_ref(token).map(|t| t.inner.clone());
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::arg_ref;

    #[test]
    fn a_token_set_on_options_outlives_its_handle() {
        let mut token = std::ptr::null_mut();
        let mut opts = std::ptr::null_mut();
        let err = std::ptr::null_mut();
        assert_eq!(ossr_cancel_token_new(&mut token, err), ossr_result::OSSR_OK);
        assert_eq!(
            super::super::client::ossr_request_options_new(&mut opts, err),
            ossr_result::OSSR_OK
        );
        assert_eq!(
            ossr_request_options_set_cancel_token(opts, token, err),
            ossr_result::OSSR_OK
        );
        let kept = arg_ref(opts.cast_const(), "opts")
            .ok()
            .and_then(|o| o.inner.cancel.clone())
            .expect("the options hold the token");
        assert!(!ossr_cancel_token_is_cancelled(token));
        assert_eq!(ossr_cancel_token_cancel(token), ossr_result::OSSR_OK);
        assert_eq!(ossr_cancel_token_cancel(token), ossr_result::OSSR_OK);
        assert!(ossr_cancel_token_is_cancelled(token));
        ossr_cancel_token_free(token);
        assert!(
            kept.is_cancelled(),
            "the options' reference survives the free"
        );
        assert_eq!(
            ossr_request_options_set_cancel_token(opts, std::ptr::null(), err),
            ossr_result::OSSR_OK
        );
        assert!(arg_ref(opts.cast_const(), "opts").is_ok_and(|o| o.inner.cancel.is_none()));
        assert_eq!(
            ossr_cancel_token_cancel(std::ptr::null()),
            ossr_result::OSSR_ERR_NULL_ARGUMENT
        );
        assert!(!ossr_cancel_token_is_cancelled(std::ptr::null()));
        ossr_cancel_token_free(std::ptr::null_mut());
        super::super::client::ossr_request_options_free(opts);
    }
}
