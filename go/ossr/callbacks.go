package ossr

// The C callbacks. A file with //export may only declare C functions in its
// preamble, so the helpers that define C code live in ossr.go.

/*
#include "oss_resume.h"
*/
import "C"

import (
	"errors"
	"io"
	"runtime/cgo"
	"unsafe"
)

// progressState carries a progress func through the C userdata pointer: fn for
// the byte callback, dir for the whole-prefix one.
type progressState struct {
	fn       func(done, total uint64) bool
	dir      func(p DirProgress) bool
	panicked interface{}
}

// readState carries an io.Reader through the C userdata pointer.
type readState struct {
	r        io.Reader
	eof      bool
	err      error
	pending  bool // err is to be reported on the next call
	panicked interface{}
}

//export ossrGoProgress
func ossrGoProgress(userdata unsafe.Pointer, done C.uint64_t, total C.uint64_t) (cancel C.int) {
	st := cgo.Handle(uintptr(userdata)).Value().(*progressState)
	defer func() {
		// A panic must not unwind through C: record it, cancel, re-raise later.
		if r := recover(); r != nil {
			st.panicked = r
			cancel = 1
		}
	}()
	if st.fn(uint64(done), uint64(total)) {
		return 0
	}
	return 1
}

//export ossrGoDirProgress
func ossrGoDirProgress(userdata unsafe.Pointer, filesDone, filesTotal, bytesDone, bytesTotal C.uint64_t) (cancel C.int) {
	st := cgo.Handle(uintptr(userdata)).Value().(*progressState)
	defer func() {
		// A panic must not unwind through C: record it, cancel, re-raise later.
		if r := recover(); r != nil {
			st.panicked = r
			cancel = 1
		}
	}()
	p := DirProgress{
		FilesDone: uint64(filesDone), FilesTotal: uint64(filesTotal),
		BytesDone: uint64(bytesDone), BytesTotal: uint64(bytesTotal),
	}
	if st.dir(p) {
		return 0
	}
	return 1
}

//export ossrGoRead
func ossrGoRead(userdata unsafe.Pointer, buf *C.uint8_t, size C.size_t, outN *C.size_t) (failed C.int) {
	st := cgo.Handle(uintptr(userdata)).Value().(*readState)
	*outN = 0
	defer func() {
		if r := recover(); r != nil {
			st.panicked = r
			failed = 1
		}
	}()
	if st.pending {
		return 1
	}
	if st.eof || size == 0 {
		return 0
	}
	p := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(size))
	// io.Reader may return 0 bytes and no error; try a bounded number of times.
	for i := 0; i < 100; i++ {
		n, err := st.r.Read(p)
		if errors.Is(err, io.EOF) {
			st.eof = true
			*outN = C.size_t(n)
			return 0
		}
		if err != nil {
			st.err = err
			if n > 0 {
				// Deliver what was read; the error fails the next call.
				st.eof = false
				*outN = C.size_t(n)
				st.pending = true
				return 0
			}
			return 1
		}
		if n > 0 {
			*outN = C.size_t(n)
			return 0
		}
	}
	st.err = io.ErrNoProgress
	return 1
}
