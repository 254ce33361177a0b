/*
 * A hostile caller's cases (issue 15), each checked for its exact result code.
 *
 *   usage: hardening crc           (the server flips a byte of the next GET body)
 *          hardening drop          (the server cuts the next GET body)
 *          hardening args WORKDIR  (no request may reach the server; a FIFO is made
 *                                   in WORKDIR)
 *   env:   OSS_ENDPOINT, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET,
 *          OSSR_TEST_BUCKET, OSSR_TEST_KEY (an object of 300000 bytes)
 *
 * Prints one "ok" or "not ok" line per check, then the plan "1..N"; exits non-zero
 * if any failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
        printf("# message \"%s\" lacks \"%s\"\n", buf, needle);
        return 0;
    }
    return 1;
}

static ossr_client *make_client(const char *endpoint, ossr_error *err) {
    ossr_config_builder *b = NULL;
    ossr_client *c = NULL;
    ossr_result rc = ossr_config_builder_new(endpoint, &b, err);
    if (rc == OSSR_OK) {
        rc = ossr_config_builder_set_signature_version(b, OSSR_SIGNATURE_V1, err);
    }
    if (rc == OSSR_OK) {
        rc = ossr_client_new(b, &c, err);
    }
    ossr_config_builder_free(b);
    return rc == OSSR_OK ? c : NULL;
}

/*
 * Reads until the first failure, which must be `want`; then three more reads must
 * fail with the same code and message, give no bytes and move nothing.
 */
static void failure_is_sticky(ossr_get_stream *stream, ossr_result want, ossr_error *err) {
    static uint8_t buf[65536];
    char first[512], again[512];
    size_t n = 0;
    uint64_t at;
    int i;
    ossr_result rc;
    for (;;) {
        n = 0;
        rc = ossr_get_stream_read(stream, buf, sizeof buf, &n, err);
        if (rc != OSSR_OK || n == 0) {
            break;
        }
    }
    check_code(rc, want, "the stream fails with the expected code");
    ossr_error_message(err, first, sizeof first, NULL);
    at = ossr_get_stream_bytes_read(stream);
    for (i = 1; i <= 3; i++) {
        n = 12345;
        rc = ossr_get_stream_read(stream, buf, sizeof buf, &n, err);
        if (rc == OSSR_OK) {
            printf("# read %d after the failure gave OSSR_OK with %zu bytes at %llu\n", i, n,
                   (unsigned long long)at);
        }
        check_code(rc, want, "a read after the failure fails the same way");
        ossr_error_message(err, again, sizeof again, NULL);
        check(strcmp(first, again) == 0, "with the same message");
        check(ossr_get_stream_bytes_read(stream) == at, "and moves nothing");
    }
}

static int sticky(const char *mode, ossr_client *client, const char *bucket, const char *key,
                  ossr_error *err) {
    ossr_get_options *opts = NULL;
    ossr_get_stream *stream = NULL;
    check_code(ossr_get_options_new(&opts, err), OSSR_OK, "get options");
    if (strcmp(mode, "drop") == 0) {
        check_code(ossr_get_options_set_resume_attempts(opts, 0, err), OSSR_OK, "no resumes");
    }
    check_code(ossr_client_open_get(client, bucket, key, opts, &stream, err), OSSR_OK,
               "open the stream");
    if (stream != NULL) {
        if (strcmp(mode, "crc") == 0) {
            failure_is_sticky(stream, OSSR_ERR_CRC_MISMATCH, err);
            check(ossr_get_stream_bytes_read(stream) < ossr_get_stream_content_length(stream),
                  "the withheld bytes are not counted as read");
        } else {
            failure_is_sticky(stream, OSSR_ERR_NETWORK, err);
            check(ossr_get_stream_resumes(stream) == 0, "no resume was tried");
        }
    }
    ossr_get_stream_free(stream);
    ossr_get_options_free(opts);
    return 0;
}

static void refused_headers(ossr_error *err) {
    static const char *const reserved[] = {
        "Host", "host", "Content-Length", "CONTENT-LENGTH", "Transfer-Encoding",
        "Authorization", "Date", "x-oss-date", "X-OSS-Content-Sha256", "x-oss-security-token",
        "User-Agent", "Connection", "Expect", "x-oss-request-payer", "x-oss-traffic-limit",
    };
    ossr_put_options *put = NULL;
    ossr_upload_options *up = NULL;
    size_t i;
    check_code(ossr_put_options_new(&put, err), OSSR_OK, "put options");
    check_code(ossr_upload_options_new(&up, err), OSSR_OK, "upload options");
    for (i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        char what[128];
        snprintf(what, sizeof what, "put options refuse %s", reserved[i]);
        check_code(ossr_put_options_add_header(put, reserved[i], "1", err),
                   OSSR_ERR_INVALID_ARGUMENT, what);
        check(message_contains(err, reserved[i]), "the message names the header");
        snprintf(what, sizeof what, "upload options refuse %s", reserved[i]);
        check_code(ossr_upload_options_add_header(up, reserved[i], "1", err),
                   OSSR_ERR_INVALID_ARGUMENT, what);
    }
    check_code(ossr_put_options_add_header(put, "x-oss-meta-a", "one\r\nHost: evil", err),
               OSSR_ERR_INVALID_ARGUMENT, "a header value with CR LF");
    check_code(ossr_upload_options_add_header(up, "x-oss-meta-a", "tab\tok\x01", err),
               OSSR_ERR_INVALID_ARGUMENT, "a header value with a control character");
    check_code(ossr_put_options_add_header(put, "bad name", "v", err), OSSR_ERR_INVALID_ARGUMENT,
               "a header name with a space");
    check_code(ossr_put_options_add_header(put, "", "v", err), OSSR_ERR_INVALID_ARGUMENT,
               "an empty header name");
    check_code(ossr_put_options_add_header(put, "x-oss-meta-colour", "blue\tgreen", err), OSSR_OK,
               "a caller's header with a tab is kept");
    check_code(ossr_upload_options_add_header(up, "Content-Type", "text/plain", err), OSSR_OK,
               "Content-Type is the caller's");
    ossr_upload_options_free(up);
    ossr_put_options_free(put);
}

static void refused_user_agents(ossr_error *err) {
    ossr_config_builder *b = NULL;
    check_code(ossr_config_builder_new("http://127.0.0.1:1", &b, err), OSSR_OK, "a builder");
    check_code(ossr_config_builder_set_user_agent_suffix(b, "app/1\r\nX-Injected: 1", err),
               OSSR_ERR_INVALID_ARGUMENT, "a user-agent suffix with CR LF");
    check(message_contains(err, "user-agent suffix"), "the message names the suffix");
    check_code(ossr_config_builder_set_user_agent_suffix(b, "app\n", err),
               OSSR_ERR_INVALID_ARGUMENT, "a user-agent suffix with LF");
    check_code(ossr_config_builder_set_user_agent_suffix(b, "app\x7f", err),
               OSSR_ERR_INVALID_ARGUMENT, "a user-agent suffix with DEL");
    check_code(ossr_config_builder_set_user_agent_suffix(b, "app/1.2 (linux)", err), OSSR_OK,
               "a plain user-agent suffix");
    ossr_config_builder_free(b);
}

static void refused_part_counts(ossr_client *client, const char *bucket, ossr_error *err) {
    ossr_uploaded_part parts[2];
    memset(parts, 0, sizeof parts);
    parts[0].part_number = 1;
    parts[1].part_number = 2;
    check_code(ossr_client_complete_multipart_upload(client, bucket, "k", "id", parts, SIZE_MAX,
                                                     NULL, NULL, err),
               OSSR_ERR_INVALID_ARGUMENT, "complete with SIZE_MAX parts");
    check(message_contains(err, "10000"), "the message gives the limit");
    check_code(ossr_client_complete_multipart_upload(client, bucket, "k", "id", parts,
                                                     (size_t)1 << 40, NULL, NULL, err),
               OSSR_ERR_INVALID_ARGUMENT, "complete with 2^40 parts");
    check_code(ossr_client_complete_multipart_upload(client, bucket, "k", "id", parts, 10001, NULL,
                                                     NULL, err),
               OSSR_ERR_INVALID_ARGUMENT, "complete with 10001 parts");
}

static void refused_endpoints(ossr_error *err) {
    static const char *const bare[] = {"oss-cn-hangzhou.aliyuncs.com", "127.0.0.1:9000"};
    size_t i;
    for (i = 0; i < sizeof bare / sizeof bare[0]; i++) {
        ossr_client *c = make_client(bare[i], err);
        check(c == NULL, "an endpoint without a scheme makes no client");
        check_code(ossr_error_code(err), OSSR_ERR_INVALID_ARGUMENT, "it is an invalid argument");
        check(message_contains(err, "no scheme"), "the message says the scheme is missing");
        ossr_client_free(c);
    }
}

static void missing_target_directory(ossr_client *client, const char *bucket, const char *key,
                                     const char *workdir, ossr_error *err) {
    char path[1024];
    snprintf(path, sizeof path, "%s/no-such-dir/out.bin", workdir);
    check_code(ossr_client_get_to_file(client, bucket, key, path, NULL, NULL, err), OSSR_ERR_IO,
               "get_to_file into a missing directory");
    check(message_contains(err, "no-such-dir"), "the message names the directory");
}

/* Bug 9: a pipe or a device is never uploaded as an empty "verified" object. */
static void non_regular_sources(ossr_client *client, const char *bucket, const char *workdir,
                                ossr_error *err) {
    char fifo[1024];
    const char *sources[2];
    int i;
    snprintf(fifo, sizeof fifo, "%s/a-fifo", workdir);
    unlink(fifo);
    check(mkfifo(fifo, 0600) == 0, "a FIFO to upload from");
    sources[0] = "/dev/zero";
    sources[1] = fifo;
    for (i = 0; i < 2; i++) {
        check_code(ossr_client_upload(client, sources[i], bucket, "c/not-regular", NULL, NULL,
                                      NULL, NULL, err),
                   OSSR_ERR_INVALID_ARGUMENT, "upload from a device or a FIFO refused");
        check(message_contains(err, "not a regular file"), "the message says why");
        check_code(ossr_client_put_file(client, bucket, "c/not-regular", sources[i], NULL, NULL,
                                        err),
                   OSSR_ERR_INVALID_ARGUMENT, "put_file from a device or a FIFO refused");
        check(message_contains(err, "not a regular file"), "the message says why");
    }
    unlink(fifo);
}

int main(int argc, char **argv) {
    const char *bucket = getenv("OSSR_TEST_BUCKET");
    const char *key = getenv("OSSR_TEST_KEY");
    const char *endpoint = getenv("OSS_ENDPOINT");
    ossr_error *err = ossr_error_new();
    ossr_client *client = NULL;

    if (argc < 2 || bucket == NULL || key == NULL || endpoint == NULL ||
        (strcmp(argv[1], "args") == 0 && argc != 3)) {
        fprintf(stderr, "usage: hardening crc|drop|args WORKDIR (see the source)\n");
        return 2;
    }
    client = make_client(endpoint, err);
    check(client != NULL, "a client from the environment");
    if (client == NULL) {
        return 1;
    }
    if (strcmp(argv[1], "args") == 0) {
        refused_headers(err);
        refused_user_agents(err);
        refused_part_counts(client, bucket, err);
        refused_endpoints(err);
        missing_target_directory(client, bucket, key, argv[2], err);
        non_regular_sources(client, bucket, argv[2], err);
    } else {
        sticky(argv[1], client, bucket, key, err);
    }
    ossr_client_free(client);
    ossr_error_free(err);
    printf("1..%d\n", checks);
    return failures == 0 ? 0 : 1;
}
