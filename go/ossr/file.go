package ossr

/*
#include "oss_resume.h"
*/
import "C"

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
	"unsafe"
)

// FileOptions tune OpenFile. Zero values take the defaults.
type FileOptions struct {
	// MaxWindow is the most a sequential stream fetches ahead of its reader; also
	// capped at half the client's prefetch memory (Config.PrefetchMemory) shared
	// among the file's streams. 0 means the default, 32 MiB.
	MaxWindow uint64
	// NoPrefetch turns prefetching off: each read fetches only the pages it
	// touches.
	NoPrefetch bool
	// MaxRequests is the prefetch requests in flight at once, each on its own
	// connection, 1..64; default 4.
	MaxRequests int
	// ResumeAttempts is how often a dropped body is resumed within one request;
	// nil means 5.
	ResumeAttempts *int
	// Request applies to the HEAD at open and to every GET after.
	Request RequestOptions
}

// FileStats says what a File has done so far.
type FileStats struct {
	Requests       uint64 // the HEAD at open and every GET (retries not counted again)
	BytesFetched   uint64 // body bytes received from the server
	BytesRead      uint64 // bytes handed to the caller
	BytesFromCache uint64 // of those, bytes already fetched or on their way
	CRCVerified    bool   // the whole object was read front to back and its CRC-64 matched
}

// File is an object opened with OpenFile, read like a local read-only file: it
// implements io.ReaderAt, io.ReadSeekCloser and has Size, so zip.NewReader(f,
// f.Size()) and the like work on an object.
//
// Every byte comes from the version of the object there at open (each GET carries
// If-Match with the ETag read then): once the object changes every read fails with
// an error matching ErrObjectChanged, never returning bytes of two versions.
// Reading the whole object front to back checks its CRC-64 (ErrCRCMismatch).
// Fetching follows how the file is read: small scattered reads fetch only the
// 64 KiB pages they touch, sequential reads are prefetched ahead in a growing
// window, and several readers at different places are each prefetched for; what
// is fetched lives in the client's prefetch memory, one limit for all its files.
//
// ReadAt is safe for concurrent use and calls run in parallel. Read and Seek share
// one position: they are safe for concurrent use but run one at a time, in no set
// order. Close waits for the calls in flight. A File does not depend on its Client
// staying open.
type File struct {
	mu    sync.RWMutex // calls hold it for reading; Close for writing
	ptr   *C.ossr_file
	watch *canceller // OpenFile's context, for the File's whole life
	size  int64
}

// OpenFile opens an object for random access: one HEAD reads its size, ETag and
// CRC-64; nothing else is fetched until the first read. As with Open, ctx governs
// the File's whole life: when it ends, a read in progress returns within about
// 200 ms and every later read fails, with a *ContextError. A missing object gives
// an error matching ErrNotFound. Close the File when done (a finalizer closes one
// that is dropped).
func (c *Client) OpenFile(ctx context.Context, bucket, key string, opts *FileOptions) (*File, error) {
	if opts == nil {
		opts = &FileOptions{}
	}
	requests, err := uint32Arg("MaxRequests", opts.MaxRequests)
	if err != nil {
		return nil, err
	}
	var resumes C.uint32_t
	if opts.ResumeAttempts != nil {
		r, err := uint32Arg("ResumeAttempts", *opts.ResumeAttempts)
		if err != nil {
			return nil, err
		}
		resumes = r
	}
	w, err := watch(ctx)
	if err != nil {
		return nil, err
	}
	var ptr *C.ossr_file
	err = c.with(func(p *C.ossr_client, cs *cstrings, e *C.ossr_error) C.ossr_result {
		var o *C.ossr_file_options
		rc := C.ossr_file_options_new(&o, e)
		defer C.ossr_file_options_free(o)
		set := func(f func() C.ossr_result) {
			if rc == C.OSSR_OK {
				rc = f()
			}
		}
		if opts.MaxWindow != 0 {
			set(func() C.ossr_result { return C.ossr_file_options_set_max_window(o, C.uint64_t(opts.MaxWindow), e) })
		}
		if opts.NoPrefetch {
			set(func() C.ossr_result { return C.ossr_file_options_set_max_window(o, 0, e) })
		}
		if opts.MaxRequests != 0 {
			set(func() C.ossr_result { return C.ossr_file_options_set_max_requests(o, requests, e) })
		}
		if opts.ResumeAttempts != nil {
			set(func() C.ossr_result { return C.ossr_file_options_set_resume_attempts(o, resumes, e) })
		}
		set(func() C.ossr_result {
			r, rc := opts.Request.handle(cs, w, e)
			defer C.ossr_request_options_free(r)
			if rc != C.OSSR_OK {
				return rc
			}
			return C.ossr_file_options_set_request(o, r, e)
		})
		set(func() C.ossr_result { return C.ossr_file_open(p, cs.of(bucket), cs.of(key), o, &ptr, e) })
		return rc
	})
	if err != nil {
		w.release()
		return nil, w.result(err)
	}
	size := uint64(C.ossr_file_size(ptr))
	if size > math.MaxInt64 {
		C.ossr_file_free(ptr)
		w.release()
		return nil, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("the object's size %d does not fit in an int64", size)}
	}
	f := &File{ptr: ptr, watch: w, size: int64(size)}
	runtime.SetFinalizer(f, func(f *File) { _ = f.Close() })
	return f, nil
}

// errClosed is what calls on a closed File give.
func errClosed() error {
	return &Error{Code: CodeNullArgument, Message: "use of a closed File"}
}

// call runs f on the C file under the read lock; a failure is mapped by the
// File's context.
func (f *File) call(fn func(p *C.ossr_file, e *C.ossr_error) C.ossr_result) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.ptr == nil {
		return errClosed()
	}
	return f.watch.result(call(func(e *C.ossr_error) C.ossr_result { return fn(f.ptr, e) }))
}

// ReadAt implements io.ReaderAt: it reads len(p) bytes at off, fewer only at the
// end of the object, where it returns io.EOF with them. Safe for concurrent use;
// calls run in parallel.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("negative offset %d", off)}
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n C.size_t
	err := f.call(func(ptr *C.ossr_file, e *C.ossr_error) C.ossr_result {
		return C.ossr_file_read_at(ptr, (*C.uint8_t)(unsafe.Pointer(&p[0])), C.size_t(len(p)), C.uint64_t(off), &n, e)
	})
	if err != nil {
		return 0, err
	}
	if int(n) < len(p) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// Read implements io.Reader at the File's position, which it moves; io.EOF at the
// end.
func (f *File) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n C.size_t
	err := f.call(func(ptr *C.ossr_file, e *C.ossr_error) C.ossr_result {
		return C.ossr_file_read(ptr, (*C.uint8_t)(unsafe.Pointer(&p[0])), C.size_t(len(p)), &n, e)
	})
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	return int(n), nil
}

// Seek implements io.Seeker (io.SeekStart, io.SeekCurrent, io.SeekEnd). A
// position past the end is allowed; reads there give io.EOF.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	var pos C.uint64_t
	err := f.call(func(ptr *C.ossr_file, e *C.ossr_error) C.ossr_result {
		return C.ossr_file_seek(ptr, C.int64_t(offset), C.int(whence), &pos, e)
	})
	if err != nil {
		return 0, err
	}
	if uint64(pos) > math.MaxInt64 {
		return 0, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("position %d does not fit in an int64", uint64(pos))}
	}
	return int64(pos), nil
}

// Size is the object's size in bytes.
func (f *File) Size() int64 { return f.size }

// ETag is the ETag every read is pinned to (quoted, as the server sent it); "" after
// Close.
func (f *File) ETag() string {
	var etag string
	_ = f.call(func(ptr *C.ossr_file, e *C.ossr_error) C.ossr_result {
		etag = text(func(b *C.char, n C.size_t, l *C.size_t) C.ossr_result { return C.ossr_file_etag(ptr, b, n, l) })
		return C.OSSR_OK
	})
	return etag
}

// Stats says what the File has done so far; zeros after Close.
func (f *File) Stats() FileStats {
	var s C.ossr_file_statistics
	s.struct_size = C.size_t(unsafe.Sizeof(s)) // the library writes the fields that fit
	if err := f.call(func(ptr *C.ossr_file, e *C.ossr_error) C.ossr_result { return C.ossr_file_stats(ptr, &s) }); err != nil {
		return FileStats{}
	}
	return FileStats{
		Requests: uint64(s.requests), BytesFetched: uint64(s.bytes_fetched),
		BytesRead: uint64(s.bytes_read), BytesFromCache: uint64(s.bytes_from_cache),
		CRCVerified: bool(s.crc_verified),
	}
}

// Close frees the File after the calls in flight end; its prefetch memory goes back
// to the client. Later calls fail with CodeNullArgument. Closing twice is harmless.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ptr == nil {
		return nil
	}
	C.ossr_file_free(f.ptr)
	f.ptr = nil
	f.watch.release()
	return nil
}

// The interfaces zip.NewReader, io.SectionReader and friends need.
var (
	_ io.ReaderAt       = (*File)(nil)
	_ io.ReadSeekCloser = (*File)(nil)
)
