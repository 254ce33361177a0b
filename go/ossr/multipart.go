package ossr

/*
#include <stdlib.h>
#include <string.h>
#include "oss_resume.h"
*/
import "C"

import (
	"context"
	"unsafe"
)

// CRC64Combine is the CRC-64 of two pieces joined, from the CRC of the first, the
// CRC of the second and the second's length.
func CRC64Combine(crc1, crc2, len2 uint64) uint64 {
	return uint64(C.ossr_crc64_combine(C.uint64_t(crc1), C.uint64_t(crc2), C.uint64_t(len2)))
}

func bytesPtr(p []byte) *C.uint8_t {
	if len(p) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&p[0]))
}

// PutObject puts data as one object (retried on transient failures) with the
// headers and request options of opts (nil for none); the CRC-64 is checked.
func (c *Client) PutObject(ctx context.Context, bucket, key string, data []byte, opts *PutOptions) (PutResult, error) {
	var result C.ossr_put_result
	result.struct_size = C.size_t(unsafe.Sizeof(result)) // the library writes the fields that fit
	err := c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		o, rc := opts.handle(cs, w, e)
		defer C.ossr_put_options_free(o)
		if rc != C.OSSR_OK {
			return rc
		}
		return C.ossr_client_put_object(p, cs.of(bucket), cs.of(key), bytesPtr(data), C.size_t(len(data)), o, &result, e)
	})
	if err != nil {
		return PutResult{}, err
	}
	return putResult(&result), nil
}

// PutFile puts a whole local file as one object (retried on transient failures).
// For large files prefer Upload, which resumes.
func (c *Client) PutFile(ctx context.Context, bucket, key, path string, opts *PutOptions) (PutResult, error) {
	var result C.ossr_put_result
	result.struct_size = C.size_t(unsafe.Sizeof(result)) // the library writes the fields that fit
	err := c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		o, rc := opts.handle(cs, w, e)
		defer C.ossr_put_options_free(o)
		if rc != C.OSSR_OK {
			return rc
		}
		return C.ossr_client_put_file(p, cs.of(bucket), cs.of(key), cs.of(path), o, &result, e)
	})
	if err != nil {
		return PutResult{}, err
	}
	return putResult(&result), nil
}

// InitiateMultipartUpload starts a multipart upload with the headers of opts and
// returns its id. The caller must complete or abort it: uploads in progress are
// billed. An Initiate whose ctx ended may still have made an upload on the server
// (ListMultipartUploads finds it).
func (c *Client) InitiateMultipartUpload(ctx context.Context, bucket, key string, opts *PutOptions, sequential bool) (string, error) {
	var id string
	err := c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		o, rc := opts.handle(cs, w, e)
		defer C.ossr_put_options_free(o)
		if rc != C.OSSR_OK {
			return rc
		}
		buf := (*C.char)(C.malloc(C.OSSR_UPLOAD_ID_LEN))
		defer C.free(unsafe.Pointer(buf))
		rc = C.ossr_client_initiate_multipart_upload(p, cs.of(bucket), cs.of(key), o, C.bool(sequential), buf, C.OSSR_UPLOAD_ID_LEN, nil, e)
		if rc == C.OSSR_OK {
			id = C.GoString(buf)
		}
		return rc
	})
	return id, err
}

// UploadedPart is a part as UploadPart answered; Complete needs them in order.
type UploadedPart struct {
	Number uint32
	ETag   string
	CRC64  uint64
}

// UploadPart uploads part number (1..10000) of an upload from data (retried on
// transient failures) and checks its CRC-64. Parts but the last need 100 KB or more.
func (c *Client) UploadPart(ctx context.Context, bucket, key, uploadID string, number uint32, data []byte) (UploadedPart, error) {
	var part C.ossr_uploaded_part
	err := c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		r, rc := RequestOptions{}.handle(cs, w, e)
		defer C.ossr_request_options_free(r)
		if rc != C.OSSR_OK {
			return rc
		}
		return C.ossr_client_upload_part(p, cs.of(bucket), cs.of(key), cs.of(uploadID), C.uint32_t(number), bytesPtr(data), C.size_t(len(data)), r, &part, e)
	})
	if err != nil {
		return UploadedPart{}, err
	}
	return UploadedPart{Number: uint32(part.part_number), ETag: C.GoString(&part.etag[0]), CRC64: uint64(part.crc64)}, nil
}

// CompleteMultipartUpload completes an upload from its parts in ascending order.
// When ctx ends during the call, whether the upload was completed is not known
// (ListMultipartUploads tells).
func (c *Client) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []UploadedPart) (PutResult, error) {
	var result C.ossr_put_result
	result.struct_size = C.size_t(unsafe.Sizeof(result)) // the library writes the fields that fit
	err := c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		r, rc := RequestOptions{}.handle(cs, w, e)
		defer C.ossr_request_options_free(r)
		if rc != C.OSSR_OK {
			return rc
		}
		n := len(parts)
		if n == 0 {
			n = 1 // C checks the count; keep the allocation valid
		}
		size := C.size_t(n) * C.size_t(unsafe.Sizeof(C.ossr_uploaded_part{}))
		arr := (*C.ossr_uploaded_part)(C.calloc(1, size))
		defer C.free(unsafe.Pointer(arr))
		list := unsafe.Slice(arr, n)
		for i, part := range parts {
			list[i].part_number = C.uint32_t(part.Number)
			list[i].crc64 = C.uint64_t(part.CRC64)
			etag := cs.of(part.ETag)
			C.strncpy(&list[i].etag[0], etag, C.OSSR_ETAG_LEN-1)
		}
		return C.ossr_client_complete_multipart_upload(p, cs.of(bucket), cs.of(key), cs.of(uploadID), arr, C.size_t(len(parts)), r, &result, e)
	})
	if err != nil {
		return PutResult{}, err
	}
	return putResult(&result), nil
}

// AbortMultipartUpload aborts an upload, deleting its parts.
func (c *Client) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	return c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		r, rc := RequestOptions{}.handle(cs, w, e)
		defer C.ossr_request_options_free(r)
		if rc != C.OSSR_OK {
			return rc
		}
		return C.ossr_client_abort_multipart_upload(p, cs.of(bucket), cs.of(key), cs.of(uploadID), r, e)
	})
}

// ListedPart is a part as ListParts reports it.
type ListedPart struct {
	Number   uint32
	Size     uint64
	ETag     string
	CRC64    uint64
	HasCRC64 bool
}

// ListParts lists the parts of an upload, all pages.
func (c *Client) ListParts(ctx context.Context, bucket, key, uploadID string) ([]ListedPart, error) {
	var out []ListedPart
	err := c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		r, rc := RequestOptions{}.handle(cs, w, e)
		defer C.ossr_request_options_free(r)
		if rc != C.OSSR_OK {
			return rc
		}
		var list *C.ossr_part_list
		rc = C.ossr_client_list_parts(p, cs.of(bucket), cs.of(key), cs.of(uploadID), r, &list, e)
		if rc != C.OSSR_OK {
			return rc
		}
		defer C.ossr_part_list_free(list)
		for i := C.size_t(0); i < C.ossr_part_list_count(list); i++ {
			var part C.ossr_listed_part
			part.struct_size = C.size_t(unsafe.Sizeof(part))
			if rc := C.ossr_part_list_get(list, i, &part); rc != C.OSSR_OK {
				return rc
			}
			out = append(out, ListedPart{Number: uint32(part.part_number), Size: uint64(part.size),
				ETag: C.GoString(&part.etag[0]), CRC64: uint64(part.crc64), HasCRC64: bool(part.has_crc64)})
		}
		return C.OSSR_OK
	})
	return out, err
}

// ListedUpload is a multipart upload in progress.
type ListedUpload struct{ Key, UploadID string }

// ListMultipartUploads lists the uploads in progress whose keys start with prefix.
func (c *Client) ListMultipartUploads(ctx context.Context, bucket, prefix string) ([]ListedUpload, error) {
	var out []ListedUpload
	err := c.run(ctx, func(p *C.ossr_client, cs *cstrings, w *canceller, e *C.ossr_error) C.ossr_result {
		r, rc := RequestOptions{}.handle(cs, w, e)
		defer C.ossr_request_options_free(r)
		if rc != C.OSSR_OK {
			return rc
		}
		var list *C.ossr_upload_list
		rc = C.ossr_client_list_multipart_uploads(p, cs.of(bucket), cs.of(prefix), r, &list, e)
		if rc != C.OSSR_OK {
			return rc
		}
		defer C.ossr_upload_list_free(list)
		for i := C.size_t(0); i < C.ossr_upload_list_count(list); i++ {
			i := i
			key := text(func(b *C.char, n C.size_t, l *C.size_t) C.ossr_result {
				return C.ossr_upload_list_key(list, i, b, n, l)
			})
			id := text(func(b *C.char, n C.size_t, l *C.size_t) C.ossr_result {
				return C.ossr_upload_list_upload_id(list, i, b, n, l)
			})
			out = append(out, ListedUpload{Key: key, UploadID: id})
		}
		return C.OSSR_OK
	})
	return out, err
}
