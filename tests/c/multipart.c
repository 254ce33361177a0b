/*
 * The one-request puts and the multipart calls, driven by hand from C.
 *
 *   usage: multipart BUCKET WORKDIR
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

static void check_code(ossr_result got, ossr_result want, const char *what, const ossr_error *err) {
    if (got != want) {
        char msg[512];
        ossr_error_message(err, msg, sizeof msg, NULL);
        printf("# %s: got %s, want %s: %s\n", what, ossr_result_str(got), ossr_result_str(want),
               msg);
    }
    check(got == want, what);
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
        fprintf(stderr, "usage: multipart BUCKET WORKDIR\n");
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
    check_code(ossr_client_list_parts(c, bucket, "m/multi", upload_id, &plist, err), OSSR_OK,
               "list parts", err);
    check(ossr_part_list_count(plist) == 3, "three parts listed");
    check_code(ossr_part_list_get(plist, 1, &listed), OSSR_OK, "the second part", err);
    check(listed.part_number == 2 && listed.size == PART && strcmp(listed.etag, parts[1].etag) == 0,
          "its number, size and ETag");
    check(ossr_part_list_get(plist, 3, &listed) == OSSR_ERR_INVALID_ARGUMENT, "no fourth part");
    ossr_part_list_free(plist);

    check_code(ossr_client_initiate_multipart_upload(c, bucket, "m/other", NULL, false, other_id,
                                                     sizeof other_id, NULL, err),
               OSSR_OK, "a second upload", err);
    check_code(ossr_client_list_multipart_uploads(c, bucket, "m/", &ulist, err), OSSR_OK,
               "list uploads", err);
    check(ossr_upload_list_count(ulist) == 2, "two uploads in progress");
    check_code(ossr_upload_list_key(ulist, 0, text, sizeof text, NULL), OSSR_OK, "a key", err);
    check(strcmp(text, "m/multi") == 0 || strcmp(text, "m/other") == 0, "the key is one of ours");
    check(ossr_upload_list_upload_id(ulist, 2, text, sizeof text, NULL) ==
              OSSR_ERR_INVALID_ARGUMENT,
          "no third upload");
    ossr_upload_list_free(ulist);
    check_code(ossr_client_abort_multipart_upload(c, bucket, "m/other", other_id, err), OSSR_OK,
               "abort the second", err);
    check_code(ossr_client_abort_multipart_upload(c, bucket, "m/other", other_id, err),
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
    check_code(ossr_client_list_multipart_uploads(c, bucket, "", &ulist, err), OSSR_OK,
               "list uploads again", err);
    check(ossr_upload_list_count(ulist) == 0, "no upload left in progress");
    ossr_upload_list_free(ulist);

    ossr_put_options_free(popts);
    ossr_client_free(c);
    ossr_config_builder_free(b);
    ossr_error_free(err);
    printf("1..%d\n", checks);
    return failures == 0 ? 0 : 1;
}
