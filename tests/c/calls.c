/*
 * The calls the examples do not make: one-request puts, the multipart calls driven
 * by hand, head's accessors, delete, presign, stream-to-file, copy, the stream's
 * accessors, and every option setter.
 *
 *   usage: calls BUCKET WORKDIR
 *   env:   OSS_ENDPOINT, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oss_resume.h"

#define PART (100 * 1024)

static int failures = 0;
static int checks = 0;

static void check(int ok, const char *what) {
    checks++;
    failures += !ok;
    printf("%s %d - %s\n", ok ? "ok" : "not ok", checks, what);
}

static int count_calls(void *userdata, uint64_t done, uint64_t total) {
    uint64_t *last = (uint64_t *)userdata;
    if (done < last[0] || (total != 0 && done > total)) {
        last[2] = 1; /* went backwards or past the total */
    }
    last[0] = done;
    last[1] = total;
    return 0;
}

static void check_code(ossr_result got, ossr_result want, const char *what, const ossr_error *err) {
    if (got != want) {
        char msg[512];
        ossr_error_message(err, msg, sizeof msg, NULL);
        printf("# %s: got %s, want %s: %s\n", what, ossr_result_str(got), ossr_result_str(want),
               msg);
    }
    check(got == want, what);
}

static int fill_z(void *userdata, uint8_t *buf, size_t len, size_t *out_n) {
    size_t *left = (size_t *)userdata;
    size_t n = len < *left ? len : *left;
    memset(buf, 'z', n);
    *left -= n;
    *out_n = n;
    return 0;
}

int main(int argc, char **argv) {
    const char *bucket;
    ossr_error *err = ossr_error_new();
    ossr_config_builder *b = NULL;
    ossr_client *c = NULL;
    ossr_put_options *popts = NULL;
    ossr_put_result put;
    ossr_uploaded_part parts[3];
    ossr_part_list *plist = NULL;
    ossr_upload_list *ulist = NULL;
    ossr_listed_part listed;
    ossr_object_info *info = NULL;
    static uint8_t data[2 * PART + 777];
    char upload_id[OSSR_UPLOAD_ID_LEN], other_id[OSSR_UPLOAD_ID_LEN], text[256], path[1024];
    uint64_t crc_all, crc_joined, head_crc = 0;
    size_t i, n;
    FILE *f;

    if (argc != 3) {
        fprintf(stderr, "usage: calls BUCKET WORKDIR\n");
        return 2;
    }
    bucket = argv[1];
    for (i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)(i * 31 + i / 7);
    }
    crc_all = ossr_crc64_update(0, data, sizeof data);
    check_code(ossr_config_builder_new(getenv("OSS_ENDPOINT"), &b, err), OSSR_OK, "builder", err);
    check_code(ossr_config_builder_set_signature_version(b, OSSR_SIGNATURE_V1, err), OSSR_OK, "v1",
               err);
    check_code(ossr_client_new(b, &c, err), OSSR_OK, "client", err);
    if (c == NULL) {
        return 1;
    }
    check_code(ossr_put_options_new(&popts, err), OSSR_OK, "put options", err);
    check_code(ossr_put_options_add_header(popts, "x-oss-meta-by", "c", err), OSSR_OK, "header",
               err);

    put.struct_size = sizeof put;
    /* PutObject from memory and from a file. */
    check_code(ossr_client_put_object(c, bucket, "m/bytes", data, sizeof data, popts, &put, err),
               OSSR_OK, "put from memory", err);
    check(put.has_crc64 && put.crc64 == crc_all, "its CRC-64 is the data's");
    check_code(ossr_client_put_object(c, bucket, "m/empty", NULL, 0, NULL, &put, err), OSSR_OK,
               "an empty put", err);
    check(put.has_crc64 && put.crc64 == 0, "the empty object's CRC-64 is 0");
    snprintf(path, sizeof path, "%s/file.bin", argv[2]);
    f = fopen(path, "wb");
    check(f != NULL && fwrite(data, 1, PART, f) == PART && fclose(f) == 0, "a local file");
    check_code(ossr_client_put_file(c, bucket, "m/file", path, NULL, &put, err), OSSR_OK,
               "put from a file", err);
    check(put.crc64 == ossr_crc64_update(0, data, PART), "its CRC-64 is the file's");

    /* A multipart upload by hand: initiate, three parts, list, complete. */
    check_code(ossr_client_initiate_multipart_upload(c, bucket, "m/multi", popts, false, text, 8,
                                                     NULL, err),
               OSSR_ERR_BUFFER_TOO_SMALL, "an upload id needs OSSR_UPLOAD_ID_LEN bytes", err);
    check_code(ossr_client_initiate_multipart_upload(c, bucket, "m/multi", popts, false, upload_id,
                                                     sizeof upload_id, &n, err),
               OSSR_OK, "initiate", err);
    check(n == strlen(upload_id) && n > 0, "an upload id");
    for (i = 0; i < 3; i++) {
        size_t len = i < 2 ? PART : sizeof data - 2 * PART;
        check_code(ossr_client_upload_part(c, bucket, "m/multi", upload_id, (uint32_t)(i + 1),
                                           data + i * PART, len, NULL, &parts[i], err),
                   OSSR_OK, "upload a part", err);
        check(parts[i].part_number == i + 1 &&
                  parts[i].crc64 == ossr_crc64_update(0, data + i * PART, len),
              "the part's number and CRC-64");
    }
    check_code(ossr_client_upload_part(c, bucket, "m/multi", upload_id, 0, data, 1, NULL, &parts[0],
                                       err),
               OSSR_ERR_INVALID_ARGUMENT, "part number 0", err);
    check_code(ossr_client_list_parts(c, bucket, "m/multi", upload_id, NULL, &plist, err), OSSR_OK,
               "list parts", err);
    check(ossr_part_list_count(plist) == 3, "three parts listed");
    memset(&listed, 0xAB, sizeof listed);
    listed.struct_size = 0;
    check(ossr_part_list_get(plist, 1, &listed) == OSSR_ERR_INVALID_ARGUMENT &&
              listed.struct_size == 0 && listed.part_number == 0xABABABABu,
          "a listed part without its struct_size refused, nothing written");
    listed.struct_size = sizeof listed;
    check_code(ossr_part_list_get(plist, 1, &listed), OSSR_OK, "the second part", err);
    check(listed.struct_size == sizeof listed, "struct_size kept");
    check(listed.part_number == 2 && listed.size == PART && strcmp(listed.etag, parts[1].etag) == 0,
          "its number, size and ETag");
    check(ossr_part_list_get(plist, 3, &listed) == OSSR_ERR_INVALID_ARGUMENT, "no fourth part");
    ossr_part_list_free(plist);

    check_code(ossr_client_initiate_multipart_upload(c, bucket, "m/other", NULL, false, other_id,
                                                     sizeof other_id, NULL, err),
               OSSR_OK, "a second upload", err);
    check_code(ossr_client_list_multipart_uploads(c, bucket, "m/", NULL, &ulist, err), OSSR_OK,
               "list uploads", err);
    check(ossr_upload_list_count(ulist) == 2, "two uploads in progress");
    check_code(ossr_upload_list_key(ulist, 0, text, sizeof text, NULL), OSSR_OK, "a key", err);
    check(strcmp(text, "m/multi") == 0 || strcmp(text, "m/other") == 0, "the key is one of ours");
    check(ossr_upload_list_upload_id(ulist, 2, text, sizeof text, NULL) ==
              OSSR_ERR_INVALID_ARGUMENT,
          "no third upload");
    ossr_upload_list_free(ulist);
    check_code(ossr_client_abort_multipart_upload(c, bucket, "m/other", other_id, NULL, err), OSSR_OK,
               "abort the second", err);
    check_code(ossr_client_abort_multipart_upload(c, bucket, "m/other", other_id, NULL, err),
               OSSR_ERR_NOT_FOUND, "it is gone", err);

    {
        ossr_uploaded_part swapped[2];
        swapped[0] = parts[1];
        swapped[1] = parts[0];
        check_code(ossr_client_complete_multipart_upload(c, bucket, "m/multi", upload_id, swapped,
                                                         2, NULL, &put, err),
                   OSSR_ERR_INVALID_ARGUMENT, "parts out of order", err);
    }
    check_code(ossr_client_complete_multipart_upload(c, bucket, "m/multi", upload_id, parts, 3,
                                                     NULL, &put, err),
               OSSR_OK, "complete", err);
    crc_joined = ossr_crc64_combine(ossr_crc64_combine(parts[0].crc64, parts[1].crc64, PART),
                                    parts[2].crc64, sizeof data - 2 * PART);
    check(crc_joined == crc_all && put.crc64 == crc_all, "the parts' CRCs join to the object's");
    check_code(ossr_client_head(c, bucket, "m/multi", NULL, &info, err), OSSR_OK, "head", err);
    check(ossr_object_info_size(info) == sizeof data && ossr_object_info_crc64(info, &head_crc) &&
              head_crc == crc_all,
          "the object's size and CRC-64");
    ossr_object_info_free(info);
    check_code(ossr_client_list_multipart_uploads(c, bucket, "", NULL, &ulist, err), OSSR_OK,
               "list uploads again", err);
    check(ossr_upload_list_count(ulist) == 0, "no upload left in progress");
    ossr_upload_list_free(ulist);

    /* Head's accessors, presign, get to file, copy, delete. */
    {
        ossr_request_options *req = NULL;
        ossr_get_options *gopts = NULL;
        ossr_get_stream *stream = NULL;
        ossr_stream_report sr;
        uint64_t progress[3] = {0, 0, 0};
        uint8_t buf[1000];
        uint64_t first = 0, crc = 0;
        char url[2048];

        check_code(ossr_client_head(c, bucket, "m/bytes", NULL, &info, err), OSSR_OK, "head", err);
        check_code(ossr_object_info_content_type(info, text, sizeof text, NULL), OSSR_OK,
                   "content type", err);
        check_code(ossr_object_info_etag(info, text, sizeof text, &n), OSSR_OK, "etag", err);
        check(n > 2 && text[0] == '"', "a quoted ETag");
        check_code(ossr_object_info_last_modified(info, text, sizeof text, NULL), OSSR_OK,
                   "last modified", err);
        check(strstr(text, "GMT") != NULL, "an HTTP date");
        check_code(ossr_object_info_object_type(info, text, sizeof text, NULL), OSSR_OK,
                   "object type", err);
        check(strcmp(text, "Normal") == 0, "a Normal object");
        check_code(ossr_object_info_version_id(info, text, sizeof text, NULL), OSSR_OK,
                   "version id", err);
        check(text[0] == '\0', "no version id");
        ossr_object_info_free(info);
        info = NULL;

        check_code(ossr_client_presign_get(c, bucket, "m/bytes", 600, NULL, url, sizeof url, &n, err),
                   OSSR_OK, "presign", err);
        check(n == strlen(url) && strstr(url, "m/bytes") != NULL, "a URL for the object");
        check_code(ossr_client_presign_get(c, bucket, "m/bytes", 0, NULL, url, sizeof url, &n, err),
                   OSSR_ERR_INVALID_ARGUMENT, "an expiry of 0 s", err);

        check_code(ossr_request_options_new(&req, err), OSSR_OK, "request options", err);
        check_code(ossr_request_options_set_traffic_limit(req, 100, err),
                   OSSR_ERR_INVALID_ARGUMENT, "a traffic limit below the minimum", err);
        check_code(ossr_request_options_set_traffic_limit(req, 838860800, err), OSSR_OK,
                   "the maximum traffic limit", err);
        check_code(ossr_request_options_set_request_payer(req, true, err), OSSR_OK,
                   "requester pays", err);
        check_code(ossr_request_options_set_version_id(req, NULL, err), OSSR_OK,
                   "no version id", err);
        check_code(ossr_get_options_new(&gopts, err), OSSR_OK, "get options", err);
        check_code(ossr_get_options_set_request(gopts, req, err), OSSR_OK, "get request", err);
        check_code(ossr_get_options_set_resume_attempts(gopts, 2, err), OSSR_OK, "resumes", err);
        check_code(ossr_get_options_set_range(gopts, 10, 5, err), OSSR_ERR_INVALID_ARGUMENT,
                   "a range that ends before it starts", err);
        check_code(ossr_get_options_set_range_from(gopts, PART, err), OSSR_OK, "range from", err);
        check_code(ossr_client_open_get(c, bucket, "m/bytes", gopts, &stream, err), OSSR_OK,
                   "open a range", err);
        check(ossr_get_stream_content_length(stream) == sizeof data - PART, "the range's length");
        check_code(ossr_get_stream_read(stream, buf, sizeof buf, &n, err), OSSR_OK, "read", err);
        check(n > 0 && memcmp(buf, data + PART, n) == 0, "the range's first bytes");
        first = n;
        check(ossr_get_stream_bytes_read(stream) == first &&
                  ossr_get_stream_client_crc(stream) == ossr_crc64_update(0, data + PART, first),
              "bytes read and their CRC-64");
        check(ossr_get_stream_server_crc(stream, &crc) && crc == crc_all,
              "the whole object's CRC-64 from the server");
        check_code(ossr_get_stream_etag(stream, text, sizeof text, NULL), OSSR_OK, "stream etag",
                   err);
        check(ossr_get_stream_resumes(stream) == 0, "no resumes");
        ossr_get_stream_free(stream);

        snprintf(path, sizeof path, "%s/to-file.bin", argv[2]);
        sr.struct_size = sizeof sr;
        check_code(ossr_client_get_to_file(c, bucket, "m/bytes", path, NULL, &sr, err), OSSR_OK,
                   "get to file", err);
        check(sr.bytes == sizeof data && sr.crc64 == crc_all && sr.verified, "its report");
        f = fopen(path, "rb");
        check(f != NULL && fread(buf, 1, sizeof buf, f) == sizeof buf &&
                  memcmp(buf, data, sizeof buf) == 0,
              "the file's bytes");
        if (f != NULL) {
            fclose(f);
        }
        check_code(ossr_client_copy(c, bucket, "m/bytes", bucket, "m/copy", NULL, popts,
                                    count_calls, progress, &put, err),
                   OSSR_OK, "copy", err);
        check(put.crc64 == crc_all && progress[0] == sizeof data && progress[1] == sizeof data &&
                  progress[2] == 0,
              "the copy's CRC-64 and progress");
        check_code(ossr_client_delete(c, bucket, "m/copy", req, err), OSSR_OK, "delete", err);
        check_code(ossr_client_head(c, bucket, "m/copy", NULL, &info, err), OSSR_ERR_NOT_FOUND,
                   "gone", err);
        ossr_get_options_free(gopts);
        ossr_request_options_free(req);
    }

    /* Every remaining option setter, then a download and an upload that use them. */
    {
        ossr_config_builder *b2 = NULL;
        ossr_client *c2 = NULL;
        ossr_client *c3 = NULL;
        ossr_download_options *d = NULL;
        ossr_upload_options *u = NULL;
        ossr_request_options *req = NULL;
        ossr_put_options *p = NULL;
        ossr_download_report dr;
        ossr_upload_report ur;
        size_t left = 5000;

        dr.struct_size = sizeof dr;
        ur.struct_size = sizeof ur;
        check_code(ossr_config_builder_new(getenv("OSS_ENDPOINT"), &b2, err), OSSR_OK, "builder", err);
        check_code(ossr_config_builder_set_signature_version(b2, OSSR_SIGNATURE_V4, err), OSSR_OK,
                   "v4", err);
        check_code(ossr_config_builder_set_region(b2, "cn-hangzhou", err), OSSR_OK, "region", err);
        check_code(ossr_config_builder_set_credentials(b2, getenv("OSS_ACCESS_KEY_ID"),
                                                       getenv("OSS_ACCESS_KEY_SECRET"), NULL, err),
                   OSSR_OK, "credentials", err);
        check_code(ossr_config_builder_set_addressing(b2, OSSR_ADDRESSING_PATH_STYLE, err), OSSR_OK,
                   "path style", err);
        check_code(ossr_config_builder_set_addressing(b2, 9, err), OSSR_ERR_INVALID_ARGUMENT,
                   "addressing 9", err);
        check_code(ossr_config_builder_set_connect_timeout_ms(b2, 0, err),
                   OSSR_ERR_INVALID_ARGUMENT, "a 0 ms timeout", err);
        check_code(ossr_config_builder_set_connect_timeout_ms(b2, 5000, err), OSSR_OK,
                   "connect timeout", err);
        check_code(ossr_config_builder_set_read_timeout_ms(b2, 30000, err), OSSR_OK,
                   "read timeout", err);
        check_code(ossr_config_builder_set_retry_policy(b2, 3, 5000, 10, err),
                   OSSR_ERR_INVALID_ARGUMENT, "a base delay above the cap", err);
        check_code(ossr_config_builder_set_user_agent_suffix(b2, "calls-test", err), OSSR_OK,
                   "user agent", err);
        check_code(ossr_config_builder_set_rate_limit(b2, 1 << 30, 0, err), OSSR_OK,
                   "a bandwidth cap", err);
        check_code(ossr_client_new(b2, &c2, err), OSSR_OK, "a V4 path-style client", err);
        check_code(ossr_client_set_rate_limit(c2, 0, 1 << 30, err), OSSR_OK,
                   "a live client's cap changed", err);
        check_code(ossr_client_set_rate_limit(NULL, 0, 0, err), OSSR_ERR_NULL_ARGUMENT,
                   "no client to cap", err);
        check_code(ossr_config_builder_set_ca_file(b2, "/no/such/ca.pem", err), OSSR_OK,
                   "a CA file", err);
        check_code(ossr_client_new(b2, &c3, err), OSSR_ERR_IO, "an unreadable CA file", err);
        check(c3 == NULL, "no client from a failed ossr_client_new");
        check_code(ossr_config_builder_set_proxy(b2, "not a url", err), OSSR_OK, "proxy", err);
        ossr_config_builder_free(b2);

        check_code(ossr_request_options_new(&req, err), OSSR_OK, "request options", err);
        check_code(ossr_download_options_new(&d, err), OSSR_OK, "download options", err);
        check_code(ossr_download_options_set_checkpoint_dir(d, argv[2], err), OSSR_OK, "dir", err);
        check_code(ossr_download_options_set_multiget_threshold(d, 1, err), OSSR_OK, "threshold",
                   err);
        check_code(ossr_download_options_set_part_size(d, PART, err), OSSR_OK, "part size", err);
        check_code(ossr_download_options_set_threads(d, 2, err), OSSR_OK, "threads", err);
        check_code(ossr_download_options_set_wait_if_busy(d, true, err), OSSR_OK, "wait", err);
        check_code(ossr_download_options_set_part_attempts(d, 0, err), OSSR_ERR_INVALID_ARGUMENT,
                   "0 part attempts", err);
        check_code(ossr_download_options_set_part_attempts(d, 3, err), OSSR_OK, "attempts", err);
        check_code(ossr_download_options_set_request(d, req, err), OSSR_OK, "request", err);
        check_code(ossr_download_options_set_hedge(d, false, err), OSSR_OK, "no hedging", err);
        snprintf(path, sizeof path, "%s/multi.bin", argv[2]);
        check_code(ossr_client_download(c2, bucket, "m/multi", path, d, NULL, NULL, &dr, err),
                   OSSR_OK, "a download with every option", err);
        check(dr.size == sizeof data && dr.parts == 3 && dr.verified && dr.has_crc64 &&
                  dr.crc64 == crc_all && dr.checkpoint == OSSR_CHECKPOINT_NOT_FOUND &&
                  dr.checkpoint_reason[0] == '\0' && dr.parts_hedged == 0,
              "its report");

        check_code(ossr_upload_options_new(&u, err), OSSR_OK, "upload options", err);
        check_code(ossr_upload_options_set_checkpoint_dir(u, argv[2], err), OSSR_OK, "dir", err);
        check_code(ossr_upload_options_set_multipart_threshold(u, PART, err), OSSR_OK, "threshold",
                   err);
        check_code(ossr_upload_options_set_part_size(u, PART, err), OSSR_OK, "part size", err);
        check_code(ossr_upload_options_set_threads(u, 65, err), OSSR_ERR_INVALID_ARGUMENT,
                   "65 threads", err);
        check_code(ossr_upload_options_set_threads(u, 2, err), OSSR_OK, "threads", err);
        check_code(ossr_upload_options_set_sequential(u, true, err), OSSR_OK, "sequential", err);
        check_code(ossr_upload_options_set_request(u, req, err), OSSR_OK, "request", err);
        check_code(ossr_upload_options_add_header(u, "x-oss-storage-class", "Standard", err),
                   OSSR_OK, "a header", err);
        check_code(ossr_client_upload(c2, path, bucket, "m/uploaded", u, NULL, NULL, &ur, err),
                   OSSR_OK, "an upload with every option", err);
        check(ur.size == sizeof data && ur.parts == 3 && ur.parts_uploaded == 3 &&
                  ur.parts_reused == 0 && ur.uploads_aborted == 0 && ur.crc64 == crc_all &&
                  ur.part_size == PART && ur.etag[0] == '"',
              "its report");

        check_code(ossr_put_options_new(&p, err), OSSR_OK, "put options", err);
        check_code(ossr_put_options_set_content_length(p, 5000, err), OSSR_OK, "length", err);
        check_code(ossr_put_options_set_request(p, req, err), OSSR_OK, "request", err);
        check_code(ossr_client_put_stream(c2, bucket, "m/known", fill_z, &left, p, NULL, NULL, &put,
                                          err),
                   OSSR_OK, "a put of a declared length", err);
        check(left == 0 && put.has_crc64, "all of it sent");
        left = 4000;
        check_code(ossr_client_put_stream(c2, bucket, "m/short", fill_z, &left, p, NULL, NULL, &put,
                                          err),
                   OSSR_ERR_IO, "fewer bytes than declared", err);
        ossr_put_options_free(p);
        ossr_upload_options_free(u);
        ossr_download_options_free(d);
        ossr_request_options_free(req);
        ossr_client_free(c2);
    }

    ossr_put_options_free(popts);
    ossr_client_free(c);
    ossr_config_builder_free(b);
    ossr_error_free(err);
    printf("1..%d\n", checks);
    return failures == 0 ? 0 : 1;
}
