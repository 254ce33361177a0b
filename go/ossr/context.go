package ossr

/*
#include "oss_resume.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
)

// ContextError is the failure of a call whose context ended: Err is the library's
// error (code CodeCancelled) and Context the context's own (context.Canceled or
// context.DeadlineExceeded). errors.Is sees both: errors.Is(err, ErrCancelled) and
// errors.Is(err, context.Canceled) are true, and errors.As(err, &e) with e an
// *Error finds Err.
type ContextError struct {
	Err     *Error
	Context error
}

func (e *ContextError) Error() string { return fmt.Sprintf("%v (%v)", e.Err, e.Context) }

// Unwrap gives the context's error.
func (e *ContextError) Unwrap() error { return e.Context }

// Is matches the library's error by code.
func (e *ContextError) Is(target error) bool { return e.Err.Is(target) }

// As finds the library's *Error.
func (e *ContextError) As(target interface{}) bool {
	if t, ok := target.(**Error); ok {
		*t = e.Err
		return true
	}
	return false
}

// canceller ties a context to a C cancel token for one call (or one Reader's life):
// a goroutine cancels the token when the context ends, until release stops it.
type canceller struct {
	ctx   context.Context
	token *C.ossr_cancel_token // nil when the context can never end
	stop  chan struct{}
	done  chan struct{}
}

// watch starts a canceller for ctx. A context that has already ended gives a
// *ContextError and nothing is started, so the call sends no request.
func watch(ctx context.Context) (*canceller, error) {
	if ctx == nil {
		return nil, &Error{Code: CodeNullArgument, Message: "nil context (use context.Background())"}
	}
	if err := ctx.Err(); err != nil {
		return nil, &ContextError{Err: &Error{Code: CodeCancelled, Message: "the context ended before the call"}, Context: err}
	}
	w := &canceller{ctx: ctx}
	if ctx.Done() == nil {
		return w, nil // context.Background() and the like: nothing to watch
	}
	if rc := C.ossr_cancel_token_new(&w.token, nil); rc != C.OSSR_OK {
		return nil, &Error{Code: Code(rc), Message: "making a cancel token"}
	}
	w.stop = make(chan struct{})
	w.done = make(chan struct{})
	// The goroutine holds the token, not the caller's objects, so a Reader left
	// unclosed can still be collected (its finalizer releases the canceller).
	go func(token *C.ossr_cancel_token, stop, done chan struct{}) {
		defer close(done)
		select {
		case <-ctx.Done():
			C.ossr_cancel_token_cancel(token)
		case <-stop:
		}
	}(w.token, w.stop, w.done)
	return w, nil
}

// release stops the goroutine, then frees the token (which it may be using until
// it stops). Releasing twice is harmless.
func (w *canceller) release() {
	if w == nil || w.token == nil {
		return
	}
	close(w.stop)
	<-w.done
	C.ossr_cancel_token_free(w.token)
	w.token = nil
}

// set puts the token on request options; nothing when there is none.
func (w *canceller) set(r *C.ossr_request_options, e *C.ossr_error) C.ossr_result {
	if w == nil || w.token == nil {
		return C.OSSR_OK
	}
	return C.ossr_request_options_set_cancel_token(r, w.token, e)
}

// result turns a cancelled call's error into a *ContextError when it was the
// context that ended (a progress func returning false gives a plain *Error).
func (w *canceller) result(err error) error {
	var e *Error
	if err == nil || w == nil || w.ctx.Err() == nil || !errors.As(err, &e) || e.Code != CodeCancelled {
		return err
	}
	return &ContextError{Err: e, Context: w.ctx.Err()}
}

// run is Client.with for a call governed by ctx: the token is set on request
// options through w, and a cancelled result is mapped by w.result.
func (c *Client) run(ctx context.Context, f func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result) error {
	w, err := watch(ctx)
	if err != nil {
		return err
	}
	defer w.release()
	return w.result(c.with(func(p *C.ossr_client, cs *cstrings, e *C.ossr_error) C.ossr_result {
		return f(p, cs, w, e)
	}))
}
