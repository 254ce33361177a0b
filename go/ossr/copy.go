package ossr

/*
#include "oss_resume.h"
*/
import "C"

import (
	"context"
	"fmt"
	"unsafe"
)

// CopyPath says how CopyObject made the copy.
type CopyPath int

// Copy paths.
const (
	// CopyPathServerSingle is one CopyObject request, on the server.
	CopyPathServerSingle CopyPath = C.OSSR_COPY_PATH_SERVER_SINGLE
	// CopyPathServerMultipart is a multipart copy of UploadPartCopy parts, on the
	// server.
	CopyPathServerMultipart CopyPath = C.OSSR_COPY_PATH_SERVER_MULTIPART
	// CopyPathStream is a copy through the client: the server refused to copy and
	// CopyOptions.AllowStreamFallback allowed it.
	CopyPathStream CopyPath = C.OSSR_COPY_PATH_STREAM
)

// String names the path ("server single", "server multipart", "stream").
func (p CopyPath) String() string {
	switch p {
	case CopyPathServerSingle:
		return "server single"
	case CopyPathServerMultipart:
		return "server multipart"
	case CopyPathStream:
		return "stream"
	}
	return fmt.Sprintf("CopyPath(%d)", int(p))
}

// CopyOptions tune CopyObject. Zero values take the defaults.
type CopyOptions struct {
	CheckpointDir string // default $HOME/.oss_resume/copy
	// Threshold: sources smaller than this take one CopyObject, larger ones a
	// multipart copy. 0 means the default, 1 GiB (OSS's CopyObject limit).
	Threshold uint64
	PartSize  uint64 // 102400..5 GiB; default 64 MiB (grown to at most 10,000 parts)
	Threads   int    // parts copied at once, 1..64; default 4
	// ReplaceMetadata gives the copy Headers instead of the source's metadata
	// (Content-Type, Cache-Control, Content-Disposition, Content-Encoding,
	// Content-Language, Expires and x-oss-meta-*, copied by default). Headers
	// alone also replace it.
	ReplaceMetadata bool
	Headers         []Header
	// ForbidOverwrite refuses to replace an existing destination: the call fails
	// with an error matching ErrInvalidArgument whose OSSCode is
	// "FileAlreadyExists".
	ForbidOverwrite bool
	// AllowStreamFallback copies through the client when the server will not copy
	// between the two ends (403 or 501 to the copy); the report's Path says so.
	AllowStreamFallback bool
	// WaitIfBusy waits while another copy between the same ends holds its
	// checkpoint (until it ends or ctx ends) instead of failing with ErrBusy.
	WaitIfBusy bool
	Request    RequestOptions // a VersionID is refused: copying a version is not supported
}

// CopyReport says what CopyObject did.
type CopyReport struct {
	Size           uint64   // the source's size: the bytes the copy holds
	Path           CopyPath // how the copy was made
	Parts          uint64   // parts of a multipart copy (0 otherwise)
	PartSize       uint64   // the part size used (0 unless multipart)
	PartsCopied    uint64   // parts copied by this call
	PartsReused    uint64   // parts found from an earlier, interrupted call, and kept
	UploadsAborted uint64   // superseded or unrecorded uploads aborted
	CRC64          uint64   // the copy's CRC-64, equal to the source's
	HasCRC64       bool
	// Checkpoint is CheckpointResumed when this call continued an interrupted
	// multipart copy, CheckpointNotUsed unless multipart.
	Checkpoint       CheckpointState
	CheckpointReason string
	ETag             string
}

func (o *CopyOptions) handle(cs *cstrings, w *canceller, e *C.ossr_error) (*C.ossr_copy_options, C.ossr_result) {
	var h *C.ossr_copy_options
	rc := C.ossr_copy_options_new(&h, e)
	set := func(f func() C.ossr_result) {
		if rc == C.OSSR_OK {
			rc = f()
		}
	}
	if o.CheckpointDir != "" {
		set(func() C.ossr_result { return C.ossr_copy_options_set_checkpoint_dir(h, cs.of(o.CheckpointDir), e) })
	}
	if o.Threshold != 0 {
		set(func() C.ossr_result { return C.ossr_copy_options_set_threshold(h, C.uint64_t(o.Threshold), e) })
	}
	if o.PartSize != 0 {
		set(func() C.ossr_result { return C.ossr_copy_options_set_part_size(h, C.uint64_t(o.PartSize), e) })
	}
	if o.Threads != 0 {
		set(func() C.ossr_result { return C.ossr_copy_options_set_threads(h, C.uint32_t(o.Threads), e) })
	}
	if o.ReplaceMetadata {
		set(func() C.ossr_result { return C.ossr_copy_options_set_metadata_replace(h, true, e) })
	}
	for _, hd := range o.Headers {
		hd := hd
		set(func() C.ossr_result { return C.ossr_copy_options_add_header(h, cs.of(hd.Name), cs.of(hd.Value), e) })
	}
	if o.ForbidOverwrite {
		set(func() C.ossr_result { return C.ossr_copy_options_set_forbid_overwrite(h, true, e) })
	}
	if o.AllowStreamFallback {
		set(func() C.ossr_result { return C.ossr_copy_options_set_allow_stream_fallback(h, true, e) })
	}
	if o.WaitIfBusy {
		set(func() C.ossr_result { return C.ossr_copy_options_set_wait_if_busy(h, true, e) })
	}
	set(func() C.ossr_result {
		r, rc := o.Request.handle(cs, w, e)
		defer C.ossr_request_options_free(r)
		if rc != C.OSSR_OK {
			return rc
		}
		return C.ossr_copy_options_set_request(h, r, e)
	})
	return h, rc
}

// CopyObject copies srcBucket/srcKey to dstBucket/dstKey on the server, resumably:
// no object byte passes through the client (Copy is the other copy, streaming the
// bytes through the client). Below opts.Threshold it is one CopyObject; above it a
// multipart copy of parallel UploadPartCopy parts, each pinned to the source's
// ETag and recorded in a checkpoint, so a later call with the same arguments after
// a failure (or after ctx ended) resumes. The copy's CRC-64 is checked against the
// source's. A source that changes during the copy gives an error matching
// ErrObjectChanged and no object. opts may be nil for the defaults.
//
// progress, when not nil, gets the bytes copied so far and the source's size, part
// by part, on the calling goroutine's thread; returning false cancels (an error
// matching ErrCancelled; the checkpoint is kept). When ctx ends the call returns
// within about 200 ms with a *ContextError, keeping the checkpoint.
func (c *Client) CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, opts *CopyOptions, progressFn func(done, total uint64) bool) (*CopyReport, error) {
	if opts == nil {
		opts = &CopyOptions{}
	}
	if _, err := uint32Arg("Threads", opts.Threads); err != nil {
		return nil, err
	}
	var report C.ossr_copy_report
	report.struct_size = C.size_t(unsafe.Sizeof(report)) // the library writes the fields that fit
	cb, ud, done := progress(progressFn)
	err := c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		o, rc := opts.handle(cs, w, e)
		defer C.ossr_copy_options_free(o)
		if rc != C.OSSR_OK {
			return rc
		}
		return C.ossr_client_copy_object(p, cs.of(srcBucket), cs.of(srcKey), cs.of(dstBucket), cs.of(dstKey), o, cb, ud, &report, e)
	})
	done()
	if err != nil {
		return nil, err
	}
	return &CopyReport{
		Size: uint64(report.size), Path: CopyPath(report.path),
		Parts: uint64(report.parts), PartSize: uint64(report.part_size),
		PartsCopied: uint64(report.parts_copied), PartsReused: uint64(report.parts_reused),
		UploadsAborted: uint64(report.uploads_aborted),
		CRC64:          uint64(report.crc64), HasCRC64: bool(report.has_crc64),
		Checkpoint:       CheckpointState(report.checkpoint),
		CheckpointReason: C.GoString(&report.checkpoint_reason[0]),
		ETag:             C.GoString(&report.etag[0]),
	}, nil
}
