/*
 * The C ABI's error paths, checked for their exact result codes.
 *
 *   usage: errors WORKDIR
 *   env:   OSS_ENDPOINT, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET,
 *          OSSR_TEST_BUCKET, OSSR_TEST_KEY (an existing object of at least 1 MiB)
 *
 * Prints one "ok" or "not ok" line per check and exits non-zero if any failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oss_resume.h"

static int failures = 0;
static int checks = 0;

static void check(int ok, const char *what) {
    checks++;
    if (!ok) {
        failures++;
    }
    printf("%s %d - %s\n", ok ? "ok" : "not ok", checks, what);
}

static void check_code(ossr_result got, ossr_result want, const char *what) {
    if (got != want) {
        printf("# %s: got %u (%s), want %u (%s)\n", what, (unsigned)got, ossr_result_str(got),
               (unsigned)want, ossr_result_str(want));
    }
    check(got == want, what);
}

static int message_contains(const ossr_error *err, const char *needle) {
    char buf[512];
    ossr_error_message(err, buf, sizeof buf, NULL);
    if (strstr(buf, needle) == NULL) {
        printf("# message %s lacks %s\n", buf, needle);
        return 0;
    }
    return 1;
}

static int oss_code_is(const ossr_error *err, const char *want) {
    char buf[128];
    ossr_error_oss_code(err, buf, sizeof buf, NULL);
    if (strcmp(buf, want) != 0) {
        printf("# oss code %s, want %s\n", buf, want);
        return 0;
    }
    return 1;
}

static ossr_client *make_client(const char *secret, ossr_error *err) {
    ossr_config_builder *b = NULL;
    ossr_client *c = NULL;
    ossr_result rc = ossr_config_builder_new(getenv("OSS_ENDPOINT"), &b, err);
    if (rc == OSSR_OK) {
        rc = ossr_config_builder_set_signature_version(b, OSSR_SIGNATURE_V1, err);
    }
    if (rc == OSSR_OK) {
        /* One attempt: the failures below are permanent anyway, and quick. */
        rc = ossr_config_builder_set_retry_policy(b, 1, 10, 10, err);
    }
    if (rc == OSSR_OK && secret != NULL) {
        rc = ossr_config_builder_set_credentials(b, getenv("OSS_ACCESS_KEY_ID"), secret, NULL,
                                                 err);
    }
    if (rc == OSSR_OK) {
        rc = ossr_client_new(b, &c, err);
    }
    ossr_config_builder_free(b);
    return rc == OSSR_OK ? c : NULL;
}

static int cancel_at_once(void *userdata, uint64_t done, uint64_t total) {
    (void)done;
    (void)total;
    ++*(int *)userdata;
    return 1;
}

static int failing_read(void *userdata, uint8_t *buf, size_t len, size_t *out_n) {
    (void)userdata;
    (void)buf;
    (void)len;
    *out_n = 0;
    return 7;
}

static int zero_read(void *userdata, uint8_t *buf, size_t len, size_t *out_n) {
    size_t *left = (size_t *)userdata;
    size_t n = len < *left ? len : *left;
    memset(buf, 'z', n);
    *left -= n;
    *out_n = n;
    return 0;
}

int main(int argc, char **argv) {
    const char *bucket = getenv("OSSR_TEST_BUCKET");
    const char *key = getenv("OSSR_TEST_KEY");
    ossr_error *err = ossr_error_new();
    ossr_client *client = NULL;
    ossr_client *wrong = NULL;
    ossr_object_info *info = NULL;
    ossr_download_options *dopts = NULL;
    ossr_upload_options *uopts = NULL;
    ossr_config_builder *builder = NULL;
    char path[1024], small[8], url[16];
    size_t len = 0;
    int calls = 0;
    ossr_result rc;

    if (argc != 2 || bucket == NULL || key == NULL || getenv("OSS_ENDPOINT") == NULL) {
        fprintf(stderr, "usage: errors WORKDIR (with OSS_ENDPOINT, OSSR_TEST_BUCKET, OSSR_TEST_KEY)\n");
        return 2;
    }
    client = make_client(NULL, err);
    check(client != NULL, "a client from the environment");
    if (client == NULL) {
        return 1;
    }

    /* NULL arguments name themselves. */
    check_code(ossr_client_head(NULL, bucket, key, NULL, &info, err), OSSR_ERR_NULL_ARGUMENT,
               "NULL client");
    check(message_contains(err, "client is NULL"), "the message names the client");
    check_code(ossr_client_head(client, NULL, key, NULL, &info, err), OSSR_ERR_NULL_ARGUMENT,
               "NULL bucket");
    check_code(ossr_client_head(client, bucket, key, NULL, NULL, err), OSSR_ERR_NULL_ARGUMENT,
               "NULL output");
    check_code(ossr_error_code(err), OSSR_ERR_NULL_ARGUMENT, "the error object keeps the code");
    check_code(ossr_client_download(client, bucket, key, NULL, NULL, NULL, NULL, NULL, NULL),
               OSSR_ERR_NULL_ARGUMENT, "NULL target, NULL error object");
    check_code(ossr_config_builder_new(NULL, &builder, err), OSSR_ERR_NULL_ARGUMENT,
               "NULL endpoint");
    check(builder == NULL, "outputs are untouched on failure");

    /* Strings must be UTF-8. */
    check_code(ossr_client_head(client, bucket, "bad\xff\xfekey", NULL, &info, err),
               OSSR_ERR_INVALID_UTF8, "a key that is not UTF-8");
    check(message_contains(err, "key is not valid UTF-8"), "the message names the key");

    /* Bad values. */
    check_code(ossr_client_head(client, "Bad_Bucket", key, NULL, &info, err),
               OSSR_ERR_INVALID_ARGUMENT, "an invalid bucket name");
    check(message_contains(err, "Bad_Bucket"), "the message names the bucket");
    check_code(ossr_download_options_new(&dopts, err), OSSR_OK, "download options");
    check_code(ossr_download_options_set_threads(dopts, 0, err), OSSR_ERR_INVALID_ARGUMENT,
               "0 threads");
    check_code(ossr_download_options_set_part_size(dopts, 5, err), OSSR_ERR_INVALID_ARGUMENT,
               "a 5-byte part size");
    check_code(ossr_config_builder_new("http://127.0.0.1:1", &builder, err), OSSR_OK, "a builder");
    check_code(ossr_config_builder_set_signature_version(builder, 7, err),
               OSSR_ERR_INVALID_ARGUMENT, "signature version 7");
    check_code(ossr_client_new(builder, &wrong, err), OSSR_ERR_INVALID_ARGUMENT,
               "V4 without a region");
    check(message_contains(err, "region"), "the message says the region is missing");
    ossr_config_builder_free(builder);

    /* A missing key: 404 NoSuchKey with the server's request id. */
    check_code(ossr_client_head(client, bucket, "no/such/key", NULL, &info, err),
               OSSR_ERR_NOT_FOUND, "a missing key (HEAD)");
    check(ossr_error_http_status(err) == 404, "HTTP status 404");
    snprintf(path, sizeof path, "%s/missing.bin", argv[1]);
    check_code(ossr_client_download(client, bucket, "no/such/key", path, NULL, NULL, NULL, NULL, err),
               OSSR_ERR_NOT_FOUND, "a missing key (download)");
    check(oss_code_is(err, "NoSuchKey"), "OSS code NoSuchKey");
    ossr_error_request_id(err, path, sizeof path, &len);
    check(len > 0 && strlen(path) == len, "a request id");

    /* Buffers too small: cut, NUL-terminated, full length reported. */
    rc = ossr_error_oss_code(err, small, sizeof small, &len);
    check_code(rc, OSSR_ERR_BUFFER_TOO_SMALL, "a small buffer");
    check(len == strlen("NoSuchKey") && strcmp(small, "NoSuchK") == 0, "cut to fit, full length");
    check_code(ossr_client_presign_get(client, bucket, key, 60, NULL, url, sizeof url, &len, err),
               OSSR_ERR_BUFFER_TOO_SMALL, "a presigned URL needs room");
    check(len > sizeof url, "the needed length is given");

    /* Wrong credentials. */
    wrong = make_client("not-the-secret", err);
    check(wrong != NULL, "a client with the wrong secret");
    check_code(ossr_client_head(wrong, bucket, key, NULL, &info, err), OSSR_ERR_ACCESS_DENIED,
               "the wrong secret (HEAD)");
    check(ossr_error_http_status(err) == 403, "HTTP status 403");
    snprintf(path, sizeof path, "%s/denied.bin", argv[1]);
    check_code(ossr_client_download(wrong, bucket, key, path, NULL, NULL, NULL, NULL, err),
               OSSR_ERR_ACCESS_DENIED, "the wrong secret (download)");
    check(oss_code_is(err, "SignatureDoesNotMatch"), "OSS code SignatureDoesNotMatch");

    /* Cancellation by a progress callback. */
    check_code(ossr_download_options_set_multiget_threshold(dopts, 1, err), OSSR_OK, "threshold");
    check_code(ossr_download_options_set_part_size(dopts, 102400, err), OSSR_OK, "part size");
    snprintf(path, sizeof path, "%s/cancelled.bin", argv[1]);
    check_code(ossr_client_download(client, bucket, key, path, dopts, cancel_at_once, &calls, NULL,
                                    err),
               OSSR_ERR_CANCELLED, "a cancelled download");
    check(calls == 1, "the callback was called once and got its userdata");
    check(fopen(path, "rb") == NULL, "no target after a cancelled download");
    snprintf(path, sizeof path, "%s/upload.bin", argv[1]);
    {
        FILE *f = fopen(path, "wb");
        static uint8_t block[300000];
        memset(block, 'u', sizeof block);
        check(f != NULL && fwrite(block, 1, sizeof block, f) == sizeof block && fclose(f) == 0,
              "a file to upload");
    }
    check_code(ossr_upload_options_new(&uopts, err), OSSR_OK, "upload options");
    check_code(ossr_upload_options_set_multipart_threshold(uopts, 102400, err), OSSR_OK,
               "upload threshold");
    check_code(ossr_upload_options_set_part_size(uopts, 102400, err), OSSR_OK, "upload part size");
    check_code(ossr_upload_options_set_checkpoint_dir(uopts, argv[1], err), OSSR_OK,
               "upload checkpoint dir");
    calls = 0;
    check_code(ossr_client_upload(client, path, bucket, "c/cancelled-upload", uopts,
                                  cancel_at_once, &calls, NULL, err),
               OSSR_ERR_CANCELLED, "a cancelled upload");
    check(calls == 1, "the upload callback was called once");
    calls = 0;
    check_code(ossr_client_put_stream(client, bucket, "c/failed-put", failing_read, NULL, NULL,
                                      NULL, NULL, NULL, err),
               OSSR_ERR_IO, "a read callback that fails");
    check(message_contains(err, "returned 7"), "the message gives the callback's return");
    check_code(ossr_client_head(client, bucket, "c/failed-put", NULL, &info, err),
               OSSR_ERR_NOT_FOUND, "no object after a failed put");
    {
        size_t left = 200000;
        check_code(ossr_client_put_stream(client, bucket, "c/cancelled-put", zero_read, &left,
                                          NULL, cancel_at_once, &calls, NULL, err),
                   OSSR_ERR_CANCELLED, "a cancelled put");
    }

    /* Success leaves the error object alone. */
    check_code(ossr_client_head(client, bucket, key, NULL, &info, err), OSSR_OK, "HEAD succeeds");
    check_code(ossr_error_code(err), OSSR_ERR_CANCELLED, "the last failure is still recorded");
    check(ossr_object_info_size(info) >= 1024 * 1024, "the object's size");

    /* Frees of NULL are no-ops; strings of codes are static. */
    ossr_error_free(NULL);
    ossr_client_free(NULL);
    ossr_config_builder_free(NULL);
    ossr_download_options_free(NULL);
    ossr_upload_options_free(NULL);
    ossr_get_options_free(NULL);
    ossr_put_options_free(NULL);
    ossr_request_options_free(NULL);
    ossr_get_stream_free(NULL);
    ossr_object_info_free(NULL);
    check(strcmp(ossr_result_str(OSSR_ERR_NOT_FOUND), "not found") == 0, "ossr_result_str");
    check(strcmp(ossr_result_str(12345), "unknown result code") == 0, "an unknown code");
    check(ossr_crc64_update(0, (const uint8_t *)"123456789", 9) == 0x995dc9bbdf1939faULL,
          "CRC-64 check value");

    ossr_object_info_free(info);
    ossr_upload_options_free(uopts);
    ossr_download_options_free(dopts);
    ossr_client_free(wrong);
    ossr_client_free(client);
    ossr_error_free(err);
    printf("1..%d\n", checks);
    return failures == 0 ? 0 : 1;
}
