package ossr

/*
#include "oss_resume.h"
*/
import "C"

import (
	"context"
	"time"
)

// ListOptions say what List lists. The zero value lists every key of the bucket,
// 1000 per page.
type ListOptions struct {
	Prefix string // only keys that start with this
	// Delimiter rolls keys up at its first occurrence after the prefix: keys sharing
	// the text up to it come once, as a common prefix ("/" lists one directory level).
	// Empty: every key below the prefix.
	Delimiter  string
	StartAfter string // only keys (and common prefixes) after this one, in UTF-8 byte order
	PageSize   int    // entries (keys plus common prefixes) per page, 1..1000; 0 for 1000
	Request    RequestOptions
}

// ListedObject is an object as a listing reports it.
type ListedObject struct {
	Key          string
	Size         uint64
	ETag         string    // as the server sent it (quoted)
	LastModified time.Time // zero when the listing gave none
	StorageClass string    // Standard, IA, Archive, ...
	Type         string    // Normal, Multipart, Appendable, Symlink
}

// ListPage is one page of a listing: objects in key order and, with a delimiter,
// the common prefixes (each ending with the delimiter). A page may be empty and
// still not be the last.
type ListPage struct {
	Objects        []ListedObject
	CommonPrefixes []string
}

// List lists a bucket page by page, in UTF-8 byte order, calling fn with each page
// as it arrives; fn returning false stops the listing (List then returns nil).
// ctx governs every page's request: when it ends, List returns an error matching
// both ErrCancelled and the context's error. fn runs on the calling goroutine and
// may use the client.
func (c *Client) List(ctx context.Context, bucket string, opts *ListOptions, fn func(ListPage) bool) error {
	if opts == nil {
		opts = &ListOptions{}
	}
	pageSize, err := uint32Arg("page size", opts.PageSize)
	if err != nil {
		return err
	}
	w, err := watch(ctx)
	if err != nil {
		return err
	}
	defer w.release()
	var list *C.ossr_list
	err = c.with(func(p *C.ossr_client, cs *cstrings, e *C.ossr_error) C.ossr_result {
		r, rc := opts.Request.handle(cs, w, e)
		defer C.ossr_request_options_free(r)
		if rc != C.OSSR_OK {
			return rc
		}
		var o *C.ossr_list_options
		if rc = C.ossr_list_options_new(&o, e); rc != C.OSSR_OK {
			return rc
		}
		defer C.ossr_list_options_free(o)
		steps := []func() C.ossr_result{
			func() C.ossr_result { return C.ossr_list_options_set_prefix(o, cs.of(opts.Prefix), e) },
			func() C.ossr_result { return C.ossr_list_options_set_delimiter(o, cs.of(opts.Delimiter), e) },
			func() C.ossr_result { return C.ossr_list_options_set_start_after(o, cs.of(opts.StartAfter), e) },
			func() C.ossr_result { return C.ossr_list_options_set_page_size(o, pageSize, e) },
			func() C.ossr_result { return C.ossr_list_options_set_request(o, r, e) },
			func() C.ossr_result { return C.ossr_list_new(p, cs.of(bucket), o, &list, e) },
		}
		for _, step := range steps {
			if rc = step(); rc != C.OSSR_OK {
				return rc
			}
		}
		return C.OSSR_OK
	})
	if err != nil {
		return w.result(err)
	}
	// The list holds its own reference to the client's connections: no client lock
	// is held while fn runs.
	defer C.ossr_list_free(list)
	for {
		var page ListPage
		var has C.bool
		err := call(func(e *C.ossr_error) C.ossr_result {
			rc := C.ossr_list_next(list, &has, e)
			if rc == C.OSSR_OK && bool(has) {
				page = readPage(list)
			}
			return rc
		})
		if err != nil {
			return w.result(err)
		}
		if !bool(has) || !fn(page) {
			return nil
		}
	}
}

// readPage copies the current page out of a list handle.
func readPage(list *C.ossr_list) ListPage {
	var page ListPage
	n := C.ossr_list_object_count(list)
	for i := C.size_t(0); i < n; i++ {
		var size C.uint64_t
		var mtime C.int64_t
		C.ossr_list_object_size(list, i, &size, &mtime)
		o := ListedObject{
			Key: text(func(b *C.char, l C.size_t, out *C.size_t) C.ossr_result {
				return C.ossr_list_object_key(list, i, b, l, out)
			}),
			Size: uint64(size),
			ETag: text(func(b *C.char, l C.size_t, out *C.size_t) C.ossr_result {
				return C.ossr_list_object_etag(list, i, b, l, out)
			}),
			StorageClass: text(func(b *C.char, l C.size_t, out *C.size_t) C.ossr_result {
				return C.ossr_list_object_storage_class(list, i, b, l, out)
			}),
			Type: text(func(b *C.char, l C.size_t, out *C.size_t) C.ossr_result {
				return C.ossr_list_object_type(list, i, b, l, out)
			}),
		}
		if mtime != 0 {
			o.LastModified = time.Unix(int64(mtime), 0).UTC()
		}
		page.Objects = append(page.Objects, o)
	}
	n = C.ossr_list_prefix_count(list)
	for i := C.size_t(0); i < n; i++ {
		page.CommonPrefixes = append(page.CommonPrefixes, text(func(b *C.char, l C.size_t, out *C.size_t) C.ossr_result {
			return C.ossr_list_prefix(list, i, b, l, out)
		}))
	}
	return page
}
