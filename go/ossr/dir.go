package ossr

/*
#include "oss_resume.h"
*/
import "C"

import (
	"context"
	"unsafe"
)

// Compare says how a file already at the destination is found unchanged.
type Compare int

const (
	CompareSizeCRC64 Compare = 0 // same size and CRC-64 (the default)
	CompareSizeMtime Compare = 1 // same size and a destination not older; no file is read
	CompareNever     Compare = 2 // nothing is skipped
)

// DirOptions tune UploadDir and DownloadPrefix. Zero values take the defaults.
type DirOptions struct {
	Threads          int      // connections open at once over all files, 1..64 (default 4)
	Include, Exclude []string // globs on the path below the directory: * within a name, ** across /, ?
	Compare          Compare
	FollowSymlinks   bool   // upload what links point to (default: skip them, listed in the report)
	DryRun           bool   // plan only: nothing is transferred or deleted
	DeleteExtraneous bool   // delete what the destination has under the prefix and the source does not
	LargeThreshold   uint64 // files of at least this size move one at a time in parts (default 10 MiB)
	ShardIndex       int    // with ShardCount > 0: only this task's slice of the files
	ShardCount       int
	CheckpointDir    string // where each large file's checkpoint is kept (default: the single-file places)
	Request          RequestOptions
	// NoFsync skips every fsync of a download, for each file as
	// DownloadOptions.NoFsync does: a power cut may cost re-fetched parts or
	// files, never a wrong file. By default each large file's parts are recorded
	// only once fsynced and every file is fsynced before its rename into place.
	// Uploads ignore it: they write no local file, and their checkpoints are
	// always fsynced.
	NoFsync bool
	// Progress gets the files and bytes done and their totals (see DirProgress),
	// on the calling goroutine, one call at a time: once when the plan is made,
	// once per finished file, and while a large file moves in parts at least every
	// 1% of it or 100 ms. Values never decrease; unless the call fails or is
	// cancelled, the last call is at both totals. Returning false cancels (the
	// call returns an error matching ErrCancelled).
	Progress func(p DirProgress) bool
}

// DirProgress is where UploadDir or DownloadPrefix stands. The totals are what
// the plan decided to transfer (unchanged files are not in them), plus, in
// FilesTotal, the files the plan refused (unsafe names, ...), which count as done
// from the first call: at the end FilesTotal is FilesTransferred + len(Failed).
type DirProgress struct {
	FilesDone  uint64 // files finished, transferred or failed
	FilesTotal uint64
	BytesDone  uint64 // bytes of the finished files and of the large file moving
	BytesTotal uint64
}

// FileFailure is a file that was not transferred, and why.
type FileFailure struct{ Name, Reason string }

// DirReport is what UploadDir or DownloadPrefix did (or, for a dry run, would do).
// Files that failed or were refused are in Failed; the call itself succeeded.
type DirReport struct {
	FilesTransferred, BytesTransferred uint64
	FilesUnchanged, BytesUnchanged     uint64
	Deleted                            []string
	Failed                             []FileFailure
	SymlinksSkipped                    []string
	DryRun                             bool
}

// UploadDir uploads the files under dir to keys prefix + their path below dir,
// under one budget of connections: unchanged files are skipped, each large file is
// a resumable upload with its own checkpoint, a failing file is reported and the
// others go on. When ctx ends the call returns an error matching ErrCancelled.
func (c *Client) UploadDir(ctx context.Context, dir, bucket, prefix string, opts *DirOptions) (DirReport, error) {
	return c.dirTransfer(ctx, opts, func(p *C.ossr_client, cs *cstrings, o *C.ossr_dir_options, cb C.ossr_dir_progress_cb, ud unsafe.Pointer, out **C.ossr_dir_report, e *C.ossr_error) C.ossr_result {
		return C.ossr_client_upload_dir(p, cs.of(dir), cs.of(bucket), cs.of(prefix), o, cb, ud, out, e)
	})
}

// DownloadPrefix downloads the objects under prefix into dir, each to dir + its key
// after the prefix. Keys that would leave dir (.., absolute paths, empty segments,
// colliding keys, paths through a local symbolic link, ...) are refused by name in
// the report and nothing is written for them. Otherwise as UploadDir.
func (c *Client) DownloadPrefix(ctx context.Context, bucket, prefix, dir string, opts *DirOptions) (DirReport, error) {
	return c.dirTransfer(ctx, opts, func(p *C.ossr_client, cs *cstrings, o *C.ossr_dir_options, cb C.ossr_dir_progress_cb, ud unsafe.Pointer, out **C.ossr_dir_report, e *C.ossr_error) C.ossr_result {
		return C.ossr_client_download_prefix(p, cs.of(bucket), cs.of(prefix), cs.of(dir), o, cb, ud, out, e)
	})
}

type dirCall func(p *C.ossr_client, cs *cstrings, o *C.ossr_dir_options, cb C.ossr_dir_progress_cb, ud unsafe.Pointer, out **C.ossr_dir_report, e *C.ossr_error) C.ossr_result

func (c *Client) dirTransfer(ctx context.Context, opts *DirOptions, call dirCall) (DirReport, error) {
	if opts == nil {
		opts = &DirOptions{}
	}
	threads, err := uint32Arg("Threads", opts.Threads)
	if err != nil {
		return DirReport{}, err
	}
	index, err := uint32Arg("ShardIndex", opts.ShardIndex)
	if err != nil {
		return DirReport{}, err
	}
	count, err := uint32Arg("ShardCount", opts.ShardCount)
	if err != nil {
		return DirReport{}, err
	}
	var report DirReport
	cb, ud, done := dirProgress(opts.Progress)
	err = c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		var o *C.ossr_dir_options
		rc := C.ossr_dir_options_new(&o, e)
		defer C.ossr_dir_options_free(o)
		set := func(f func() C.ossr_result) {
			if rc == C.OSSR_OK {
				rc = f()
			}
		}
		if opts.Threads != 0 {
			set(func() C.ossr_result { return C.ossr_dir_options_set_threads(o, threads, e) })
		}
		for _, g := range opts.Include {
			g := g
			set(func() C.ossr_result { return C.ossr_dir_options_add_include(o, cs.of(g), e) })
		}
		for _, g := range opts.Exclude {
			g := g
			set(func() C.ossr_result { return C.ossr_dir_options_add_exclude(o, cs.of(g), e) })
		}
		set(func() C.ossr_result { return C.ossr_dir_options_set_compare(o, C.uint(opts.Compare), e) })
		set(func() C.ossr_result {
			return C.ossr_dir_options_set_switches(o, C.bool(opts.FollowSymlinks), C.bool(opts.DryRun), C.bool(opts.DeleteExtraneous), e)
		})
		if opts.LargeThreshold != 0 {
			set(func() C.ossr_result {
				return C.ossr_dir_options_set_large_threshold(o, C.uint64_t(opts.LargeThreshold), e)
			})
		}
		set(func() C.ossr_result { return C.ossr_dir_options_set_shard(o, index, count, e) })
		if opts.NoFsync {
			set(func() C.ossr_result { return C.ossr_dir_options_set_no_fsync(o, true, e) })
		}
		if opts.CheckpointDir != "" {
			set(func() C.ossr_result { return C.ossr_dir_options_set_checkpoint_dir(o, cs.of(opts.CheckpointDir), e) })
		}
		set(func() C.ossr_result {
			r, rc := opts.Request.handle(cs, w, e)
			defer C.ossr_request_options_free(r)
			if rc != C.OSSR_OK {
				return rc
			}
			return C.ossr_dir_options_set_request(o, r, e)
		})
		var out *C.ossr_dir_report
		set(func() C.ossr_result { return call(p, cs, o, cb, ud, &out, e) })
		if rc == C.OSSR_OK {
			report = readDirReport(out)
			C.ossr_dir_report_free(out)
		}
		return rc
	})
	done()
	return report, err
}

func readDirReport(r *C.ossr_dir_report) DirReport {
	var n C.ossr_dir_counts
	n.struct_size = C.size_t(unsafe.Sizeof(n))
	C.ossr_dir_report_counts(r, &n)
	out := DirReport{
		FilesTransferred: uint64(n.files_transferred), BytesTransferred: uint64(n.bytes_transferred),
		FilesUnchanged: uint64(n.files_unchanged), BytesUnchanged: uint64(n.bytes_unchanged),
		DryRun: bool(n.dry_run),
	}
	for i := C.size_t(0); i < C.size_t(n.failed); i++ {
		out.Failed = append(out.Failed, FileFailure{
			Name: text(func(b *C.char, l C.size_t, o *C.size_t) C.ossr_result {
				return C.ossr_dir_report_failed_name(r, i, b, l, o)
			}),
			Reason: text(func(b *C.char, l C.size_t, o *C.size_t) C.ossr_result {
				return C.ossr_dir_report_failed_reason(r, i, b, l, o)
			}),
		})
	}
	for i := C.size_t(0); i < C.size_t(n.deleted); i++ {
		out.Deleted = append(out.Deleted, text(func(b *C.char, l C.size_t, o *C.size_t) C.ossr_result {
			return C.ossr_dir_report_deleted(r, i, b, l, o)
		}))
	}
	for i := C.size_t(0); i < C.size_t(n.symlinks_skipped); i++ {
		out.SymlinksSkipped = append(out.SymlinksSkipped, text(func(b *C.char, l C.size_t, o *C.size_t) C.ossr_result {
			return C.ossr_dir_report_symlink(r, i, b, l, o)
		}))
	}
	return out
}
