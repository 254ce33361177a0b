// Package ossr moves large objects to and from Alibaba Cloud OSS through
// liboss_resume: resumable parallel downloads, resumable multipart uploads, and
// streaming reads and writes, each checked by CRC-64.
//
// Every call that talks to the server takes a context.Context first and blocks
// until done; the library runs its own worker threads. When the context ends the
// call returns within about 200 ms, even while the server sends nothing, with an
// error for which both errors.Is(err, ErrCancelled) and errors.Is(err,
// context.Canceled) (or context.DeadlineExceeded) hold (see ContextError); a
// resumable transfer keeps its checkpoint. A context that has already ended fails
// the call at once, before any request. A Client is safe for concurrent use. Progress funcs run on the
// calling goroutine's thread, one call at a time, and return false to cancel. Failures are *Error values that
// carry the result code, the HTTP status, the OSS error code and the request id;
// compare them with errors.Is against the Err* values.
//
// Build: the package links the static library target/release/liboss_resume.a of
// the repository (run `cargo build --release` first); set CGO_LDFLAGS=-L<dir> to
// link one from elsewhere.
//
// Module: github.com/oss-resume/oss_resume/go (Go 1.19 or later). Since the library
// is built from the same checkout, a program normally uses a local checkout through
// a replace directive in its own go.mod:
//
//	require github.com/oss-resume/oss_resume/go v0.0.0
//	replace github.com/oss-resume/oss_resume/go => /path/to/oss_resume/go
//
// and imports github.com/oss-resume/oss_resume/go/ossr. Without the replace, `go
// get github.com/oss-resume/oss_resume/go@<version>` fetches it (tags are
// go/vX.Y.Z), and CGO_LDFLAGS must point at a built liboss_resume.a.
package ossr

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -l:liboss_resume.a -lm -ldl -lpthread
#include <stdint.h>
#include <stdlib.h>
#include "oss_resume.h"

extern int ossrGoProgress(void *userdata, uint64_t done, uint64_t total);
extern int ossrGoDirProgress(void *userdata, uint64_t files_done, uint64_t files_total,
                             uint64_t bytes_done, uint64_t bytes_total);
extern int ossrGoRead(void *userdata, uint8_t *buf, size_t len, size_t *out_n);

// The directory progress struct handed to Go as plain numbers: Go never holds
// the library's pointer.
static int ossr_go_dir_progress(void *userdata, const ossr_dir_progress *p) {
	return ossrGoDirProgress(userdata, p->files_done, p->files_total, p->bytes_done,
	                         p->bytes_total);
}

// cgo handles are integers; C wants a pointer. Converting here keeps go vet quiet.
static inline void *ossr_go_handle(uintptr_t h) { return (void *)h; }
static inline ossr_progress_cb ossr_go_progress_cb(void) { return ossrGoProgress; }
static inline ossr_dir_progress_cb ossr_go_dir_progress_cb(void) { return ossr_go_dir_progress; }
static inline ossr_read_cb ossr_go_read_cb(void) { return ossrGoRead; }
*/
import "C"

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// Code is a result code of the C library. The numbers never change.
type Code uint32

// The result codes (see ossr_result in oss_resume.h).
const (
	CodeOK              Code = C.OSSR_OK
	CodeNullArgument    Code = C.OSSR_ERR_NULL_ARGUMENT
	CodeInvalidUTF8     Code = C.OSSR_ERR_INVALID_UTF8
	CodeInvalidArgument Code = C.OSSR_ERR_INVALID_ARGUMENT
	CodeBufferTooSmall  Code = C.OSSR_ERR_BUFFER_TOO_SMALL
	CodeCancelled       Code = C.OSSR_ERR_CANCELLED
	CodeNotFound        Code = C.OSSR_ERR_NOT_FOUND
	CodeAccessDenied    Code = C.OSSR_ERR_ACCESS_DENIED
	CodeObjectChanged   Code = C.OSSR_ERR_OBJECT_CHANGED
	CodeCRCMismatch     Code = C.OSSR_ERR_CRC_MISMATCH
	CodeBusy            Code = C.OSSR_ERR_BUSY
	CodeNetwork         Code = C.OSSR_ERR_NETWORK
	CodeTimeout         Code = C.OSSR_ERR_TIMEOUT
	CodeServerBusy      Code = C.OSSR_ERR_SERVER_BUSY
	CodeServer          Code = C.OSSR_ERR_SERVER
	CodeIO              Code = C.OSSR_ERR_IO
	CodePanic           Code = C.OSSR_ERR_PANIC
)

// String describes the code ("not found", "cancelled", ...).
func (c Code) String() string {
	return C.GoString(C.ossr_result_str(C.uint(c)))
}

// Error is a failed call: the code, and what the server said when it answered.
type Error struct {
	Code       Code
	HTTPStatus int    // 0 when there was no HTTP answer
	OSSCode    string // e.g. "NoSuchKey"; empty when the server sent none
	Message    string // what failed and why, naming the bucket and key
	RequestID  string // the server's request id; empty when there was no answer
}

func (e *Error) Error() string {
	if e.HTTPStatus != 0 {
		return fmt.Sprintf("ossr: %s: %s (HTTP %d, %s, request id %s)", e.Code, e.Message, e.HTTPStatus, e.OSSCode, e.RequestID)
	}
	return fmt.Sprintf("ossr: %s: %s", e.Code, e.Message)
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ossr.ErrNotFound) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Values to compare errors with errors.Is.
var (
	ErrCancelled       = &Error{Code: CodeCancelled}
	ErrNotFound        = &Error{Code: CodeNotFound}
	ErrAccessDenied    = &Error{Code: CodeAccessDenied}
	ErrObjectChanged   = &Error{Code: CodeObjectChanged}
	ErrCRCMismatch     = &Error{Code: CodeCRCMismatch}
	ErrBusy            = &Error{Code: CodeBusy}
	ErrInvalidArgument = &Error{Code: CodeInvalidArgument}
	ErrNetwork         = &Error{Code: CodeNetwork}
	ErrTimeout         = &Error{Code: CodeTimeout}
	ErrServerBusy      = &Error{Code: CodeServerBusy}
	ErrServer          = &Error{Code: CodeServer}
	ErrIO              = &Error{Code: CodeIO}
)

// ReaderError is the failure of a Put (or PutObject-like call) whose io.Reader
// failed: Err is the library's error (code CodeIO) and Reader the reader's own.
// errors.Is and errors.As see both: errors.Is(err, ErrIO) and errors.Is(err,
// yourReaderErr) are true, and errors.As(err, &e) with e an *Error finds Err.
type ReaderError struct {
	Err    *Error
	Reader error
}

func (e *ReaderError) Error() string { return fmt.Sprintf("%v (reader: %v)", e.Err, e.Reader) }

// Unwrap gives the reader's error.
func (e *ReaderError) Unwrap() error { return e.Reader }

// Is matches the library's error by code.
func (e *ReaderError) Is(target error) bool { return e.Err.Is(target) }

// As finds the library's *Error.
func (e *ReaderError) As(target interface{}) bool {
	if t, ok := target.(**Error); ok {
		*t = e.Err
		return true
	}
	return false
}

// Version is the C library's version, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.ossr_version()) }

// CRC64 continues a CRC-64 (ECMA-182, as OSS computes it) over p; start with 0.
func CRC64(crc uint64, p []byte) uint64 {
	if len(p) == 0 {
		return crc
	}
	return uint64(C.ossr_crc64_update(C.uint64_t(crc), (*C.uint8_t)(unsafe.Pointer(&p[0])), C.size_t(len(p))))
}

// call runs one C call with a fresh error object and turns a failure into *Error.
func call(f func(err *C.ossr_error) C.ossr_result) error {
	e := C.ossr_error_new()
	defer C.ossr_error_free(e)
	rc := f(e)
	if rc == C.OSSR_OK {
		return nil
	}
	return &Error{
		Code:       Code(rc),
		HTTPStatus: int(C.ossr_error_http_status(e)),
		OSSCode:    text(func(b *C.char, n C.size_t, l *C.size_t) C.ossr_result { return C.ossr_error_oss_code(e, b, n, l) }),
		Message:    text(func(b *C.char, n C.size_t, l *C.size_t) C.ossr_result { return C.ossr_error_message(e, b, n, l) }),
		RequestID:  text(func(b *C.char, n C.size_t, l *C.size_t) C.ossr_result { return C.ossr_error_request_id(e, b, n, l) }),
	}
}

// text copies a string out of the library, growing the buffer when it is too small.
// A call that fails (a NULL handle, say) writes nothing, so it gives "".
func text(f func(buf *C.char, size C.size_t, outLen *C.size_t) C.ossr_result) string {
	size := C.size_t(256)
	for i := 0; i < 4; i++ {
		buf := (*C.char)(C.calloc(size, 1))
		var n C.size_t
		rc := f(buf, size, &n)
		s := ""
		if rc == C.OSSR_OK {
			s = C.GoString(buf)
		}
		C.free(unsafe.Pointer(buf))
		if rc != C.OSSR_ERR_BUFFER_TOO_SMALL {
			return s
		}
		size = n + 1
	}
	return ""
}

// uint32Arg converts a count for C, refusing what does not fit instead of cutting
// it to 32 bits.
func uint32Arg(name string, v int) (C.uint32_t, error) {
	if v < 0 || uint64(v) > math.MaxUint32 {
		return 0, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("%s %d is outside 0..%d", name, v, uint64(math.MaxUint32))}
	}
	return C.uint32_t(v), nil
}

// cstrings frees the C strings it made when the call is over.
type cstrings []*C.char

func (cs *cstrings) of(s string) *C.char {
	p := C.CString(s)
	*cs = append(*cs, p)
	return p
}

func (cs *cstrings) free() {
	for _, p := range *cs {
		C.free(unsafe.Pointer(p))
	}
}

// Config says where and how to connect. Zero values take the library's defaults.
type Config struct {
	Endpoint         string // "https://oss-cn-hangzhou.aliyuncs.com"; required
	Region           string // e.g. "cn-hangzhou"; required for V4
	AccessKeyID      string // empty: OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET
	AccessKeySecret  string
	SecurityToken    string        // STS token, optional
	SignatureVersion int           // 1 or 4; 0 means 4
	PathStyle        bool          // host/bucket/key instead of bucket.host/key
	ConnectTimeout   time.Duration // default 10 s
	ReadTimeout      time.Duration // default 60 s
	MaxAttempts      int           // attempts per request, first included; default 4
	CAFile           string        // extra PEM CA certificates
	Proxy            string        // http://[user:password@]host:port or socks5://...
	UserAgentSuffix  string
	// PrefetchMemory is the memory the Files opened with OpenFile may hold at once
	// for what they fetch: one limit for all of them, never exceeded. 0 means the
	// default, 64 MiB; NoPrefetchMemory makes every read fetch straight into the
	// caller's buffer.
	PrefetchMemory   uint64
	NoPrefetchMemory bool
	// Bandwidth cap of the whole client in bytes per second, shared by every call,
	// goroutine and part using it; 0 for no cap (the default). Change it on a live
	// client with SetRateLimit. Composes with RequestOptions.TrafficLimit.
	RateLimitDownload uint64 // bytes received
	RateLimitUpload   uint64 // bytes sent
}

// Client is a connection pool with credentials. Safe for concurrent use; Close it
// when done.
type Client struct {
	mu  sync.RWMutex // Close waits for calls in flight
	ptr *C.ossr_client

	streamsMu sync.Mutex
	streams   map[*stream]struct{} // open Readers' streams, closed by Close
}

// NewClient makes a client. Errors have code CodeInvalidArgument for a bad
// endpoint, V4 without a region, or missing credentials.
func NewClient(cfg Config) (*Client, error) {
	version, err := uint32Arg("SignatureVersion", cfg.SignatureVersion)
	if err != nil {
		return nil, err
	}
	attempts, err := uint32Arg("MaxAttempts", cfg.MaxAttempts)
	if err != nil {
		return nil, err
	}
	var cs cstrings
	defer cs.free()
	var b *C.ossr_config_builder
	var client *C.ossr_client
	err = call(func(e *C.ossr_error) C.ossr_result {
		rc := C.ossr_config_builder_new(cs.of(cfg.Endpoint), &b, e)
		step := func(f func() C.ossr_result) {
			if rc == C.OSSR_OK {
				rc = f()
			}
		}
		if cfg.Region != "" {
			step(func() C.ossr_result { return C.ossr_config_builder_set_region(b, cs.of(cfg.Region), e) })
		}
		if cfg.AccessKeyID != "" || cfg.AccessKeySecret != "" {
			step(func() C.ossr_result {
				var token *C.char
				if cfg.SecurityToken != "" {
					token = cs.of(cfg.SecurityToken)
				}
				return C.ossr_config_builder_set_credentials(b, cs.of(cfg.AccessKeyID), cs.of(cfg.AccessKeySecret), token, e)
			})
		}
		if cfg.SignatureVersion != 0 {
			step(func() C.ossr_result {
				return C.ossr_config_builder_set_signature_version(b, C.uint(version), e)
			})
		}
		if cfg.PathStyle {
			step(func() C.ossr_result { return C.ossr_config_builder_set_addressing(b, C.OSSR_ADDRESSING_PATH_STYLE, e) })
		}
		if cfg.ConnectTimeout > 0 {
			step(func() C.ossr_result {
				return C.ossr_config_builder_set_connect_timeout_ms(b, C.uint64_t(cfg.ConnectTimeout.Milliseconds()), e)
			})
		}
		if cfg.ReadTimeout > 0 {
			step(func() C.ossr_result {
				return C.ossr_config_builder_set_read_timeout_ms(b, C.uint64_t(cfg.ReadTimeout.Milliseconds()), e)
			})
		}
		if cfg.MaxAttempts > 0 {
			step(func() C.ossr_result {
				return C.ossr_config_builder_set_retry_policy(b, attempts, 200, 20000, e)
			})
		}
		if cfg.CAFile != "" {
			step(func() C.ossr_result { return C.ossr_config_builder_set_ca_file(b, cs.of(cfg.CAFile), e) })
		}
		if cfg.Proxy != "" {
			step(func() C.ossr_result { return C.ossr_config_builder_set_proxy(b, cs.of(cfg.Proxy), e) })
		}
		if cfg.UserAgentSuffix != "" {
			step(func() C.ossr_result {
				return C.ossr_config_builder_set_user_agent_suffix(b, cs.of(cfg.UserAgentSuffix), e)
			})
		}
		if cfg.PrefetchMemory != 0 || cfg.NoPrefetchMemory {
			step(func() C.ossr_result {
				bytes := cfg.PrefetchMemory
				if cfg.NoPrefetchMemory {
					bytes = 0
				}
				return C.ossr_config_builder_set_prefetch_memory(b, C.uint64_t(bytes), e)
			})
		}
		if cfg.RateLimitDownload != 0 || cfg.RateLimitUpload != 0 {
			step(func() C.ossr_result {
				return C.ossr_config_builder_set_rate_limit(b, C.uint64_t(cfg.RateLimitDownload), C.uint64_t(cfg.RateLimitUpload), e)
			})
		}
		step(func() C.ossr_result { return C.ossr_client_new(b, &client, e) })
		return rc
	})
	C.ossr_config_builder_free(b)
	if err != nil {
		return nil, err
	}
	c := &Client{ptr: client}
	runtime.SetFinalizer(c, func(c *Client) { _ = c.Close() })
	return c, nil
}

// Close frees the client after the calls in flight end. Readers opened from it and
// still open are closed first (a Read in progress finishes; later Reads fail with
// CodeNullArgument), so Close never waits on a Reader left open. Further calls fail
// with CodeNullArgument. Closing twice is harmless.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.streamsMu.Lock()
	open := make([]*stream, 0, len(c.streams))
	for s := range c.streams {
		open = append(open, s)
	}
	c.streamsMu.Unlock()
	for _, s := range open {
		s.close()
	}
	C.ossr_client_free(c.ptr)
	c.ptr = nil
	return nil
}

// SetRateLimit changes the client's bandwidth cap in bytes per second (0: no cap)
// for the calls running on it too, which move at the new cap within about 100 ms.
// It does not block.
func (c *Client) SetRateLimit(download, upload uint64) error {
	return c.with(func(p *C.ossr_client, _ *cstrings, e *C.ossr_error) C.ossr_result {
		return C.ossr_client_set_rate_limit(p, C.uint64_t(download), C.uint64_t(upload), e)
	})
}

// with runs f with the C client held open.
func (c *Client) with(f func(p *C.ossr_client, cs *cstrings, e *C.ossr_error) C.ossr_result) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var cs cstrings
	defer cs.free()
	return call(func(e *C.ossr_error) C.ossr_result { return f(c.ptr, &cs, e) })
}

// RequestOptions are sent with object requests.
type RequestOptions struct {
	VersionID    string // read this version of a versioned object
	RequestPayer bool   // acknowledge that the requester pays
	TrafficLimit uint64 // bit/s, 819200..838860800; 0 for none
}

// handle makes C request options, with w's cancel token when there is one.
func (r RequestOptions) handle(cs *cstrings, w *canceller, e *C.ossr_error) (*C.ossr_request_options, C.ossr_result) {
	var h *C.ossr_request_options
	rc := C.ossr_request_options_new(&h, e)
	if rc == C.OSSR_OK {
		rc = w.set(h, e)
	}
	if rc == C.OSSR_OK && r.VersionID != "" {
		rc = C.ossr_request_options_set_version_id(h, cs.of(r.VersionID), e)
	}
	if rc == C.OSSR_OK && r.RequestPayer {
		rc = C.ossr_request_options_set_request_payer(h, true, e)
	}
	if rc == C.OSSR_OK && r.TrafficLimit != 0 {
		rc = C.ossr_request_options_set_traffic_limit(h, C.uint64_t(r.TrafficLimit), e)
	}
	return h, rc
}

// ObjectInfo is what Head learns.
type ObjectInfo struct {
	Size         uint64
	ETag         string
	LastModified string
	CRC64        uint64
	HasCRC64     bool
	ObjectType   string
	VersionID    string
	ContentType  string
}

// Head learns an object's size, ETag, CRC-64 and more. A missing object gives an
// error matching ErrNotFound.
func (c *Client) Head(ctx context.Context, bucket, key string, req RequestOptions) (ObjectInfo, error) {
	var info ObjectInfo
	err := c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		r, rc := req.handle(cs, w, e)
		defer C.ossr_request_options_free(r)
		if rc != C.OSSR_OK {
			return rc
		}
		var h *C.ossr_object_info
		rc = C.ossr_client_head(p, cs.of(bucket), cs.of(key), r, &h, e)
		if rc != C.OSSR_OK {
			return rc
		}
		defer C.ossr_object_info_free(h)
		var crc C.uint64_t
		info.Size = uint64(C.ossr_object_info_size(h))
		info.HasCRC64 = bool(C.ossr_object_info_crc64(h, &crc))
		info.CRC64 = uint64(crc)
		info.ETag = text(func(b *C.char, n C.size_t, l *C.size_t) C.ossr_result { return C.ossr_object_info_etag(h, b, n, l) })
		info.LastModified = text(func(b *C.char, n C.size_t, l *C.size_t) C.ossr_result {
			return C.ossr_object_info_last_modified(h, b, n, l)
		})
		info.ObjectType = text(func(b *C.char, n C.size_t, l *C.size_t) C.ossr_result {
			return C.ossr_object_info_object_type(h, b, n, l)
		})
		info.VersionID = text(func(b *C.char, n C.size_t, l *C.size_t) C.ossr_result {
			return C.ossr_object_info_version_id(h, b, n, l)
		})
		info.ContentType = text(func(b *C.char, n C.size_t, l *C.size_t) C.ossr_result {
			return C.ossr_object_info_content_type(h, b, n, l)
		})
		return C.OSSR_OK
	})
	return info, err
}

// Delete deletes an object (a missing one is not an error). When ctx ends during
// the call, whether the object was deleted is not known.
func (c *Client) Delete(ctx context.Context, bucket, key string, req RequestOptions) error {
	return c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		r, rc := req.handle(cs, w, e)
		defer C.ossr_request_options_free(r)
		if rc != C.OSSR_OK {
			return rc
		}
		return C.ossr_client_delete(p, cs.of(bucket), cs.of(key), r, e)
	})
}

// PresignGet makes a URL that lets anyone GET the object until it expires
// (1 s to 7 days).
func (c *Client) PresignGet(bucket, key string, expires time.Duration) (string, error) {
	var url string
	err := c.with(func(p *C.ossr_client, cs *cstrings, e *C.ossr_error) C.ossr_result {
		size := C.size_t(1024)
		for i := 0; i < 3; i++ {
			buf := (*C.char)(C.malloc(size))
			var n C.size_t
			rc := C.ossr_client_presign_get(p, cs.of(bucket), cs.of(key), C.uint64_t(expires/time.Second), nil, buf, size, &n, e)
			url = C.GoString(buf)
			C.free(unsafe.Pointer(buf))
			if rc != C.OSSR_ERR_BUFFER_TOO_SMALL {
				return rc
			}
			size = n + 1
		}
		return C.OSSR_ERR_BUFFER_TOO_SMALL
	})
	return url, err
}

// progress wires an optional Go func to the C callback arguments. done must be
// called after the C call; it re-raises a panic from the func.
func progress(fn func(done, total uint64) bool) (C.ossr_progress_cb, unsafe.Pointer, func()) {
	if fn == nil {
		return nil, nil, func() {}
	}
	ud, done := progressHandle(&progressState{fn: fn})
	return C.ossr_go_progress_cb(), ud, done
}

// dirProgress is progress for the whole-prefix callback.
func dirProgress(fn func(p DirProgress) bool) (C.ossr_dir_progress_cb, unsafe.Pointer, func()) {
	if fn == nil {
		return nil, nil, func() {}
	}
	ud, done := progressHandle(&progressState{dir: fn})
	return C.ossr_go_dir_progress_cb(), ud, done
}

// progressHandle passes st as C userdata until done, which re-raises a panic the
// callback recorded.
func progressHandle(st *progressState) (unsafe.Pointer, func()) {
	h := cgo.NewHandle(st)
	return C.ossr_go_handle(C.uintptr_t(h)), func() {
		h.Delete()
		if st.panicked != nil {
			panic(st.panicked)
		}
	}
}

// CheckpointState says what became of a transfer's checkpoint.
type CheckpointState int

// Checkpoint states.
const (
	CheckpointNotUsed   CheckpointState = C.OSSR_CHECKPOINT_NOT_USED
	CheckpointNotFound  CheckpointState = C.OSSR_CHECKPOINT_NOT_FOUND
	CheckpointResumed   CheckpointState = C.OSSR_CHECKPOINT_RESUMED
	CheckpointDiscarded CheckpointState = C.OSSR_CHECKPOINT_DISCARDED
)

// String names the state ("not used", "not found", "resumed", "discarded").
func (s CheckpointState) String() string {
	switch s {
	case CheckpointNotUsed:
		return "not used"
	case CheckpointNotFound:
		return "not found"
	case CheckpointResumed:
		return "resumed"
	case CheckpointDiscarded:
		return "discarded"
	}
	return fmt.Sprintf("CheckpointState(%d)", int(s))
}

// DownloadOptions tune Download. Zero values take the defaults.
type DownloadOptions struct {
	CheckpointDir     string // default: the target's directory
	MultigetThreshold uint64 // below it, one GET and no checkpoint; default 10 MiB
	PartSize          uint64 // 102400..5 GiB; default automatic (8 MiB, grown)
	Threads           int    // default 4
	WaitIfBusy        bool   // wait for another download of the same target (or ctx)
	PartAttempts      int    // default 5
	// NoFsync skips every fsync: the page cache's guarantees, as curl and aria2c
	// give. The checkpoint is rewritten at most every 100 ms (and when the
	// download stops), so a process killed outright may also lose the parts
	// finished in its last 100 ms; a power cut may lose recorded parts (fetched
	// again on resume, found by their CRC-64) or the checkpoint (the download
	// starts over), and may leave the target renamed but not yet written out. The
	// default (false) records a part only once its
	// bytes are fsynced, fsyncs checkpoints before they replace the old one, and
	// fsyncs the file before the rename (and its directory after): after a power
	// cut the target is the old file or the whole new one, and a resume loses at
	// most the parts that were in flight.
	NoFsync bool
	// NoHedge turns hedging off. By default a part whose answer has not begun
	// within 3x the 95th percentile of this download's answers (at least 1 s, once
	// 4 parts were answered) is requested again on another connection and the
	// first answer wins; nothing is written or counted twice, at most 2 hedges are
	// out at once, and none after the server answered 503 or 429.
	NoHedge bool
	Request RequestOptions
	// Progress gets the bytes done and the total; returning false cancels, and the
	// error then matches ErrCancelled (the checkpoint is kept).
	Progress func(done, total uint64) bool
}

// DownloadReport says what Download did.
type DownloadReport struct {
	Size, BytesFetched, BytesReused, PartsRetried, Parts, PartSize uint64
	// PartsDamaged counts the parts of a resumed checkpoint whose bytes no longer
	// matched their recorded CRC-64 and were fetched again.
	PartsDamaged       uint64
	PartsHedged        uint64 // late parts requested again
	CRC64              uint64
	HasCRC64, Verified bool
	Checkpoint         CheckpointState
	CheckpointReason   string
	ETag               string
}

// Download fetches an object to a local file with parallel ranged GETs, resuming
// from the checkpoint of an earlier interrupted call, and verifies it by CRC-64.
// The target appears only when complete. When ctx ends the checkpoint is kept, so
// a later call resumes.
func (c *Client) Download(ctx context.Context, bucket, key, target string, opts *DownloadOptions) (DownloadReport, error) {
	if opts == nil {
		opts = &DownloadOptions{}
	}
	threads, err := uint32Arg("Threads", opts.Threads)
	if err != nil {
		return DownloadReport{}, err
	}
	partAttempts, err := uint32Arg("PartAttempts", opts.PartAttempts)
	if err != nil {
		return DownloadReport{}, err
	}
	var report C.ossr_download_report
	report.struct_size = C.size_t(unsafe.Sizeof(report)) // the library writes the fields that fit
	cb, ud, done := progress(opts.Progress)
	err = c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		var o *C.ossr_download_options
		rc := C.ossr_download_options_new(&o, e)
		defer C.ossr_download_options_free(o)
		set := func(f func() C.ossr_result) {
			if rc == C.OSSR_OK {
				rc = f()
			}
		}
		if opts.CheckpointDir != "" {
			set(func() C.ossr_result {
				return C.ossr_download_options_set_checkpoint_dir(o, cs.of(opts.CheckpointDir), e)
			})
		}
		if opts.MultigetThreshold != 0 {
			set(func() C.ossr_result {
				return C.ossr_download_options_set_multiget_threshold(o, C.uint64_t(opts.MultigetThreshold), e)
			})
		}
		if opts.PartSize != 0 {
			set(func() C.ossr_result { return C.ossr_download_options_set_part_size(o, C.uint64_t(opts.PartSize), e) })
		}
		if opts.Threads != 0 {
			set(func() C.ossr_result { return C.ossr_download_options_set_threads(o, threads, e) })
		}
		if opts.WaitIfBusy {
			set(func() C.ossr_result { return C.ossr_download_options_set_wait_if_busy(o, true, e) })
		}
		if opts.NoFsync {
			set(func() C.ossr_result { return C.ossr_download_options_set_no_fsync(o, true, e) })
		}
		if opts.NoHedge {
			set(func() C.ossr_result { return C.ossr_download_options_set_hedge(o, false, e) })
		}
		if opts.PartAttempts != 0 {
			set(func() C.ossr_result {
				return C.ossr_download_options_set_part_attempts(o, partAttempts, e)
			})
		}
		set(func() C.ossr_result {
			r, rc := opts.Request.handle(cs, w, e)
			defer C.ossr_request_options_free(r)
			if rc != C.OSSR_OK {
				return rc
			}
			return C.ossr_download_options_set_request(o, r, e)
		})
		set(func() C.ossr_result {
			return C.ossr_client_download(p, cs.of(bucket), cs.of(key), cs.of(target), o, cb, ud, &report, e)
		})
		return rc
	})
	done()
	if err != nil {
		return DownloadReport{}, err
	}
	return DownloadReport{
		Size: uint64(report.size), BytesFetched: uint64(report.bytes_fetched),
		BytesReused: uint64(report.bytes_reused), PartsRetried: uint64(report.parts_retried),
		PartsDamaged: uint64(report.parts_damaged), PartsHedged: uint64(report.parts_hedged),
		Parts: uint64(report.parts), PartSize: uint64(report.part_size),
		CRC64: uint64(report.crc64), HasCRC64: bool(report.has_crc64), Verified: bool(report.verified),
		Checkpoint:       CheckpointState(report.checkpoint),
		CheckpointReason: C.GoString(&report.checkpoint_reason[0]),
		ETag:             C.GoString(&report.etag[0]),
	}, nil
}

// Header is one request header: Content-Type, x-oss-meta-*, x-oss-object-acl,
// x-oss-storage-class or any other x-oss- header.
type Header struct{ Name, Value string }

// UploadOptions tune Upload. Zero values take the defaults.
type UploadOptions struct {
	CheckpointDir      string // default $HOME/.oss_resume/upload
	Headers            []Header
	MultipartThreshold uint64 // below it, one PutObject; default 10 MiB
	PartSize           uint64 // 102400..5 GiB; default automatic (8 MiB, grown)
	Threads            int    // default 4
	Sequential         bool   // ask OSS to require parts in order
	// WaitIfBusy waits while another upload of the same file to the same key holds
	// its checkpoint (until it ends or ctx ends) instead of failing with ErrBusy.
	WaitIfBusy bool
	Request    RequestOptions
	// Progress as for DownloadOptions; the last call is at 100% after Complete.
	Progress func(done, total uint64) bool
}

// UploadReport says what Upload did.
type UploadReport struct {
	Size, Parts, PartSize, PartsUploaded, PartsReused, UploadsAborted uint64
	CRC64                                                             uint64
	Checkpoint                                                        CheckpointState
	CheckpointReason                                                  string
	ETag                                                              string
}

// Upload sends a local file to an object: one PutObject below the threshold,
// otherwise a resumable multipart upload whose parts and whole object are checked
// by CRC-64. A later call after a failure (or after ctx ended) resumes; superseded
// uploads are aborted.
func (c *Client) Upload(ctx context.Context, path, bucket, key string, opts *UploadOptions) (UploadReport, error) {
	if opts == nil {
		opts = &UploadOptions{}
	}
	threads, err := uint32Arg("Threads", opts.Threads)
	if err != nil {
		return UploadReport{}, err
	}
	var report C.ossr_upload_report
	report.struct_size = C.size_t(unsafe.Sizeof(report)) // the library writes the fields that fit
	cb, ud, done := progress(opts.Progress)
	err = c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		var o *C.ossr_upload_options
		rc := C.ossr_upload_options_new(&o, e)
		defer C.ossr_upload_options_free(o)
		set := func(f func() C.ossr_result) {
			if rc == C.OSSR_OK {
				rc = f()
			}
		}
		if opts.CheckpointDir != "" {
			set(func() C.ossr_result { return C.ossr_upload_options_set_checkpoint_dir(o, cs.of(opts.CheckpointDir), e) })
		}
		for _, h := range opts.Headers {
			h := h
			set(func() C.ossr_result { return C.ossr_upload_options_add_header(o, cs.of(h.Name), cs.of(h.Value), e) })
		}
		if opts.MultipartThreshold != 0 {
			set(func() C.ossr_result {
				return C.ossr_upload_options_set_multipart_threshold(o, C.uint64_t(opts.MultipartThreshold), e)
			})
		}
		if opts.PartSize != 0 {
			set(func() C.ossr_result { return C.ossr_upload_options_set_part_size(o, C.uint64_t(opts.PartSize), e) })
		}
		if opts.Threads != 0 {
			set(func() C.ossr_result { return C.ossr_upload_options_set_threads(o, threads, e) })
		}
		if opts.Sequential {
			set(func() C.ossr_result { return C.ossr_upload_options_set_sequential(o, true, e) })
		}
		if opts.WaitIfBusy {
			set(func() C.ossr_result { return C.ossr_upload_options_set_wait_if_busy(o, true, e) })
		}
		set(func() C.ossr_result {
			r, rc := opts.Request.handle(cs, w, e)
			defer C.ossr_request_options_free(r)
			if rc != C.OSSR_OK {
				return rc
			}
			return C.ossr_upload_options_set_request(o, r, e)
		})
		set(func() C.ossr_result {
			return C.ossr_client_upload(p, cs.of(path), cs.of(bucket), cs.of(key), o, cb, ud, &report, e)
		})
		return rc
	})
	done()
	if err != nil {
		return UploadReport{}, err
	}
	return UploadReport{
		Size: uint64(report.size), Parts: uint64(report.parts), PartSize: uint64(report.part_size),
		PartsUploaded: uint64(report.parts_uploaded), PartsReused: uint64(report.parts_reused),
		UploadsAborted: uint64(report.uploads_aborted), CRC64: uint64(report.crc64),
		Checkpoint:       CheckpointState(report.checkpoint),
		CheckpointReason: C.GoString(&report.checkpoint_reason[0]),
		ETag:             C.GoString(&report.etag[0]),
	}, nil
}

// GetOptions tune Open, GetToFile and the source of Copy.
type GetOptions struct {
	// Range, when set, reads bytes First..Last (inclusive); Last < 0 means to the end.
	Range *Range
	// ResumeAttempts is how often a dropped body is resumed; nil means 5.
	ResumeAttempts *int
	Request        RequestOptions
}

// Range is a byte range; Last < 0 means to the end of the object.
type Range struct{ First, Last int64 }

// check refuses what C cannot take whole.
func (g *GetOptions) check() error {
	if g != nil && g.ResumeAttempts != nil {
		_, err := uint32Arg("ResumeAttempts", *g.ResumeAttempts)
		return err
	}
	return nil
}

func (g *GetOptions) handle(cs *cstrings, w *canceller, e *C.ossr_error) (*C.ossr_get_options, C.ossr_result) {
	var o *C.ossr_get_options
	rc := C.ossr_get_options_new(&o, e)
	if g == nil {
		g = &GetOptions{}
	}
	if rc == C.OSSR_OK && g.Range != nil {
		if g.Range.Last < 0 {
			rc = C.ossr_get_options_set_range_from(o, C.uint64_t(g.Range.First), e)
		} else {
			rc = C.ossr_get_options_set_range(o, C.uint64_t(g.Range.First), C.uint64_t(g.Range.Last), e)
		}
	}
	if rc == C.OSSR_OK && g.ResumeAttempts != nil {
		rc = C.ossr_get_options_set_resume_attempts(o, C.uint32_t(*g.ResumeAttempts), e)
	}
	if rc == C.OSSR_OK {
		r, rc2 := g.Request.handle(cs, w, e)
		rc = rc2
		if rc == C.OSSR_OK {
			rc = C.ossr_get_options_set_request(o, r, e)
		}
		C.ossr_request_options_free(r)
	}
	return o, rc
}

// Reader streams one GET. It resumes a dropped body by itself, and the read that
// completes a whole object checks its CRC-64 (an error matching ErrCRCMismatch). A
// Reader that failed stays failed: every later Read returns the same error. Not for
// concurrent use; Close it (Client.Close also closes it).
type Reader struct {
	s *stream
}

// stream is a Reader's C stream. The client's list of open streams points here,
// not at the Reader, so a Reader that is dropped unclosed can still be collected
// (its finalizer closes the stream).
type stream struct {
	mu     sync.Mutex // held by every call on ptr; close waits for a Read in progress
	ptr    *C.ossr_get_stream
	client *Client
	watch  *canceller // Open's context, for the stream's whole life
}

// close frees the C stream; closing twice is harmless.
func (s *stream) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr == nil {
		return
	}
	C.ossr_get_stream_free(s.ptr)
	s.ptr = nil
	s.watch.release()
	s.client.streamsMu.Lock()
	delete(s.client.streams, s)
	s.client.streamsMu.Unlock()
}

// Open starts a GET of an object, or of opts.Range, as an io.ReadCloser. As with
// net/http, ctx governs the Reader's whole life, not just Open: when it ends, a
// Read in progress returns within about 200 ms and every later Read fails, with a
// *ContextError. Close the Reader to release what watches ctx.
func (c *Client) Open(ctx context.Context, bucket, key string, opts *GetOptions) (*Reader, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	w, err := watch(ctx)
	if err != nil {
		return nil, err
	}
	var st *stream
	err = c.with(func(p *C.ossr_client, cs *cstrings, e *C.ossr_error) C.ossr_result {
		o, rc := opts.handle(cs, w, e)
		defer C.ossr_get_options_free(o)
		if rc != C.OSSR_OK {
			return rc
		}
		var ptr *C.ossr_get_stream
		rc = C.ossr_client_open_get(p, cs.of(bucket), cs.of(key), o, &ptr, e)
		if rc == C.OSSR_OK {
			// Listed while the client's read lock is held, so Close sees it.
			st = &stream{ptr: ptr, client: c, watch: w}
			c.streamsMu.Lock()
			if c.streams == nil {
				c.streams = make(map[*stream]struct{})
			}
			c.streams[st] = struct{}{}
			c.streamsMu.Unlock()
		}
		return rc
	})
	if err != nil {
		w.release()
		return nil, w.result(err)
	}
	r := &Reader{s: st}
	runtime.SetFinalizer(r, func(r *Reader) { _ = r.Close() })
	return r, nil
}

// Read implements io.Reader; it returns io.EOF at the end.
func (r *Reader) Read(p []byte) (int, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if r.s.ptr == nil {
		return 0, &Error{Code: CodeNullArgument, Message: "read after the Reader or its Client was closed"}
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n C.size_t
	err := call(func(e *C.ossr_error) C.ossr_result {
		return C.ossr_get_stream_read(r.s.ptr, (*C.uint8_t)(unsafe.Pointer(&p[0])), C.size_t(len(p)), &n, e)
	})
	if err != nil {
		return 0, r.s.watch.result(err)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return int(n), nil
}

// Close ends the stream. Closing twice is harmless.
func (r *Reader) Close() error {
	r.s.close()
	return nil
}

// with runs f on the C stream (NULL once closed, which the C getters answer with
// zeros and empty strings).
func (r *Reader) with(f func(p *C.ossr_get_stream)) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	f(r.s.ptr)
}

// ContentLength is the number of bytes the stream delivers in all; 0 after Close.
func (r *Reader) ContentLength() (n uint64) {
	r.with(func(p *C.ossr_get_stream) { n = uint64(C.ossr_get_stream_content_length(p)) })
	return n
}

// BytesRead is the number of bytes delivered so far; 0 after Close.
func (r *Reader) BytesRead() (n uint64) {
	r.with(func(p *C.ossr_get_stream) { n = uint64(C.ossr_get_stream_bytes_read(p)) })
	return n
}

// ClientCRC is the CRC-64 of the bytes delivered so far; 0 after Close.
func (r *Reader) ClientCRC() (crc uint64) {
	r.with(func(p *C.ossr_get_stream) { crc = uint64(C.ossr_get_stream_client_crc(p)) })
	return crc
}

// ServerCRC is the whole object's CRC-64 as the server reported it; false after
// Close.
func (r *Reader) ServerCRC() (crc uint64, ok bool) {
	r.with(func(p *C.ossr_get_stream) {
		var c C.uint64_t
		ok = bool(C.ossr_get_stream_server_crc(p, &c))
		crc = uint64(c)
	})
	return crc, ok
}

// Resumes is how often a dropped body was resumed; 0 after Close.
func (r *Reader) Resumes() (n uint32) {
	r.with(func(p *C.ossr_get_stream) { n = uint32(C.ossr_get_stream_resumes(p)) })
	return n
}

// ETag is the object's ETag; "" after Close.
func (r *Reader) ETag() (etag string) {
	r.with(func(p *C.ossr_get_stream) {
		etag = text(func(b *C.char, n C.size_t, l *C.size_t) C.ossr_result { return C.ossr_get_stream_etag(p, b, n, l) })
	})
	return etag
}

// PutOptions tune Put and the destination of Copy.
type PutOptions struct {
	Headers []Header
	// Length, when above 0, is the exact number of bytes the reader gives, sent as
	// Content-Length; otherwise the body goes chunked. Ignored by Copy.
	Length  int64
	Request RequestOptions // ignored by Copy (the source's apply)
	// Progress gets the bytes sent and the total (0 while unknown); false cancels.
	Progress func(done, total uint64) bool
}

func (o *PutOptions) handle(cs *cstrings, w *canceller, e *C.ossr_error) (*C.ossr_put_options, C.ossr_result) {
	var h *C.ossr_put_options
	rc := C.ossr_put_options_new(&h, e)
	if o == nil {
		o = &PutOptions{}
	}
	for _, hd := range o.Headers {
		if rc == C.OSSR_OK {
			rc = C.ossr_put_options_add_header(h, cs.of(hd.Name), cs.of(hd.Value), e)
		}
	}
	if rc == C.OSSR_OK && o.Length > 0 {
		rc = C.ossr_put_options_set_content_length(h, C.uint64_t(o.Length), e)
	}
	if rc == C.OSSR_OK {
		r, rc2 := o.Request.handle(cs, w, e)
		rc = rc2
		if rc == C.OSSR_OK {
			rc = C.ossr_put_options_set_request(h, r, e)
		}
		C.ossr_request_options_free(r)
	}
	return h, rc
}

// PutResult is what Put and Copy made.
type PutResult struct {
	ETag     string
	CRC64    uint64 // checked against the bytes sent
	HasCRC64 bool
}

func putResult(r *C.ossr_put_result) PutResult {
	return PutResult{ETag: C.GoString(&r.etag[0]), CRC64: uint64(r.crc64), HasCRC64: bool(r.has_crc64)}
}

// Put streams r into an object, with bounded memory, and checks the CRC-64 of what
// was sent. A failing reader (an error matching ErrIO) or a cancel leaves no object.
func (c *Client) Put(ctx context.Context, bucket, key string, r io.Reader, opts *PutOptions) (PutResult, error) {
	var result C.ossr_put_result
	result.struct_size = C.size_t(unsafe.Sizeof(result)) // the library writes the fields that fit
	var fn func(done, total uint64) bool
	if opts != nil {
		fn = opts.Progress
	}
	cb, ud, done := progress(fn)
	st := &readState{r: r}
	h := cgo.NewHandle(st)
	err := c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		o, rc := opts.handle(cs, w, e)
		defer C.ossr_put_options_free(o)
		if rc != C.OSSR_OK {
			return rc
		}
		return C.ossr_client_put_stream(p, cs.of(bucket), cs.of(key), C.ossr_go_read_cb(), C.ossr_go_handle(C.uintptr_t(h)), o, cb, ud, &result, e)
	})
	h.Delete()
	done()
	if st.panicked != nil {
		panic(st.panicked)
	}
	if err != nil {
		if e, ok := err.(*Error); ok && st.err != nil {
			return PutResult{}, &ReaderError{Err: e, Reader: st.err}
		}
		return PutResult{}, err
	}
	return putResult(&result), nil
}

// StreamReport says what GetToFile wrote.
type StreamReport struct {
	Bytes    uint64
	CRC64    uint64
	Verified bool // checked against the server's CRC-64 (whole objects)
	Resumes  uint32
}

// GetToFile streams an object (or a range) to a file through a temporary file and
// a rename; the target never holds partial bytes.
func (c *Client) GetToFile(ctx context.Context, bucket, key, target string, opts *GetOptions) (StreamReport, error) {
	if err := opts.check(); err != nil {
		return StreamReport{}, err
	}
	var report C.ossr_stream_report
	report.struct_size = C.size_t(unsafe.Sizeof(report)) // the library writes the fields that fit
	err := c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		o, rc := opts.handle(cs, w, e)
		defer C.ossr_get_options_free(o)
		if rc != C.OSSR_OK {
			return rc
		}
		return C.ossr_client_get_to_file(p, cs.of(bucket), cs.of(key), cs.of(target), o, &report, e)
	})
	if err != nil {
		return StreamReport{}, err
	}
	return StreamReport{Bytes: uint64(report.bytes), CRC64: uint64(report.crc64), Verified: bool(report.verified), Resumes: uint32(report.resumes)}, nil
}

// Copy streams one object into another with no copy on disk, checking CRC-64 end
// to end. put supplies the destination's headers and progress. When ctx ends, no
// object is made.
func (c *Client) Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, get *GetOptions, put *PutOptions) (PutResult, error) {
	if err := get.check(); err != nil {
		return PutResult{}, err
	}
	var result C.ossr_put_result
	result.struct_size = C.size_t(unsafe.Sizeof(result)) // the library writes the fields that fit
	var fn func(done, total uint64) bool
	if put != nil {
		fn = put.Progress
	}
	cb, ud, done := progress(fn)
	err := c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		g, rc := get.handle(cs, w, e)
		defer C.ossr_get_options_free(g)
		if rc != C.OSSR_OK {
			return rc
		}
		o, rc := put.handle(cs, nil, e)
		defer C.ossr_put_options_free(o)
		if rc != C.OSSR_OK {
			return rc
		}
		return C.ossr_client_copy(p, cs.of(srcBucket), cs.of(srcKey), cs.of(dstBucket), cs.of(dstKey), g, o, cb, ud, &result, e)
	})
	done()
	if err != nil {
		return PutResult{}, err
	}
	return putResult(&result), nil
}
