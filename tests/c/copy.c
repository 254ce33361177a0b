/*
 * Server-side copy from C (issue 12): ossr_client_copy_object with its options and
 * report, small (one CopyObject) and multipart (UploadPartCopy parts), checked
 * against the source byte for byte; then a multipart copy cancelled through a
 * cancel token from another thread, and resumed.
 *
 *   usage: copy small SRC_KEY DST_KEY
 *            (one CopyObject, the metadata copied; then one with it replaced)
 *          copy multipart SRC_KEY DST_KEY CKPTDIR PART_SIZE
 *            (threshold 1: always multipart, parts of PART_SIZE, 3 threads)
 *          copy cancel SRC_KEY DST_KEY CKPTDIR PART_SIZE PARTS_BEFORE_CANCEL
 *            (the server is slowed by the test: one thread copies; once progress
 *            shows PARTS_BEFORE_CANCEL parts done, the token is cancelled from this
 *            thread while the copy runs on another; it must give
 *            OSSR_ERR_CANCELLED within 1 s and keep its checkpoint)
 *          copy resume SRC_KEY DST_KEY CKPTDIR PART_SIZE
 *            (the same copy again: it resumes from the checkpoint)
 *   env:   OSS_ENDPOINT, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSSR_TEST_BUCKET
 *
 * Prints one "ok" or "not ok" line per check, facts as "#" lines, then the plan
 * "1..N"; exits non-zero if any check failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oss_resume.h"

#define CANCEL_LIMIT_MS 1000.0

static int failures = 0;
static int checks = 0;

static void check(int ok, const char *what) {
    checks++;
    if (!ok) {
        failures++;
    }
    printf("%s %d - %s\n", ok ? "ok" : "not ok", checks, what);
    fflush(stdout);
}

static void check_code(ossr_result got, ossr_result want, const ossr_error *err,
                       const char *what) {
    if (got != want) {
        char msg[512] = "";
        ossr_error_message(err, msg, sizeof msg, NULL);
        printf("# %s: got %u (%s), want %u (%s): %s\n", what, (unsigned)got,
               ossr_result_str(got), (unsigned)want, ossr_result_str(want), msg);
    }
    check(got == want, what);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void nap_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static const char *env(const char *name) {
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        fprintf(stderr, "%s is not set\n", name);
        exit(2);
    }
    return v;
}

static ossr_client *make_client(void) {
    ossr_config_builder *b = NULL;
    ossr_client *c = NULL;
    ossr_result rc = ossr_config_builder_new(env("OSS_ENDPOINT"), &b, NULL);
    if (rc == OSSR_OK) rc = ossr_config_builder_set_signature_version(b, OSSR_SIGNATURE_V1, NULL);
    if (rc == OSSR_OK) {
        rc = ossr_config_builder_set_credentials(b, env("OSS_ACCESS_KEY_ID"),
                                                 env("OSS_ACCESS_KEY_SECRET"), NULL, NULL);
    }
    if (rc == OSSR_OK) rc = ossr_client_new(b, &c, NULL);
    ossr_config_builder_free(b);
    if (rc != OSSR_OK) {
        fprintf(stderr, "making the client failed: %s\n", ossr_result_str(rc));
        exit(2);
    }
    return c;
}

/* The whole object, read with a GET stream; *len gets its size. NULL on failure. */
static uint8_t *get_all(const ossr_client *c, const char *bucket, const char *key, size_t *len) {
    ossr_get_stream *s = NULL;
    uint8_t *data = NULL;
    size_t cap = 0;
    *len = 0;
    if (ossr_client_open_get(c, bucket, key, NULL, &s, NULL) != OSSR_OK) {
        return NULL;
    }
    for (;;) {
        size_t got = 0;
        if (cap - *len < 65536) {
            uint8_t *bigger;
            cap = cap * 2 + 65536;
            bigger = (uint8_t *)realloc(data, cap);
            if (bigger == NULL) {
                free(data);
                ossr_get_stream_free(s);
                return NULL;
            }
            data = bigger;
        }
        if (ossr_get_stream_read(s, data + *len, 65536, &got, NULL) != OSSR_OK) {
            free(data);
            ossr_get_stream_free(s);
            return NULL;
        }
        if (got == 0) {
            break;
        }
        *len += got;
    }
    ossr_get_stream_free(s);
    return data;
}

/* Whether two objects hold the same bytes (read back through the client). */
static int same_bytes(const ossr_client *c, const char *bucket, const char *a, const char *b) {
    size_t la = 0, lb = 0;
    uint8_t *da = get_all(c, bucket, a, &la);
    uint8_t *db = get_all(c, bucket, b, &lb);
    int same = da != NULL && db != NULL && la == lb && memcmp(da, db, la) == 0;
    printf("# %s: %zu bytes, %s: %zu bytes\n", a, la, b, lb);
    free(da);
    free(db);
    return same;
}

static uint64_t head_crc(const ossr_client *c, const char *bucket, const char *key,
                         char *content_type, size_t ct_len) {
    ossr_object_info *info = NULL;
    uint64_t crc = 0;
    if (ossr_client_head(c, bucket, key, NULL, &info, NULL) == OSSR_OK) {
        ossr_object_info_crc64(info, &crc);
        if (content_type != NULL) {
            ossr_object_info_content_type(info, content_type, ct_len, NULL);
        }
    }
    ossr_object_info_free(info);
    return crc;
}

static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (d == NULL) {
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".copy") != NULL && e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Progress: the last values seen, and whether they ever went back. */
struct progress {
    pthread_mutex_t lock;
    uint64_t done, total;
    int calls, monotonic;
};

static int on_progress(void *userdata, uint64_t done, uint64_t total) {
    struct progress *p = (struct progress *)userdata;
    pthread_mutex_lock(&p->lock);
    if (done < p->done || (total != 0 && done > total)) {
        p->monotonic = 0;
    }
    p->done = done;
    p->total = total;
    p->calls++;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static void progress_init(struct progress *p) {
    memset(p, 0, sizeof *p);
    p->monotonic = 1;
    pthread_mutex_init(&p->lock, NULL);
}

static int small(const char *bucket, const char *src, const char *dst) {
    ossr_client *c = make_client();
    ossr_error *err = ossr_error_new();
    ossr_copy_options *o = NULL;
    ossr_copy_report r;
    struct progress p;
    char replaced[300], ct[128] = "";
    uint64_t src_crc = head_crc(c, bucket, src, NULL, 0);
    ossr_result rc;

    progress_init(&p);
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    /* NULL options: the defaults (1 GiB threshold: one CopyObject). */
    rc = ossr_client_copy_object(c, bucket, src, bucket, dst, NULL, on_progress, &p, &r, err);
    check_code(rc, OSSR_OK, err, "a small copy with the default options succeeds");
    check(r.path == OSSR_COPY_PATH_SERVER_SINGLE, "... as one CopyObject");
    check(r.parts == 0 && r.part_size == 0 && r.checkpoint == OSSR_CHECKPOINT_NOT_USED,
          "... with no parts and no checkpoint");
    check(r.has_crc64 && r.crc64 == src_crc && src_crc != 0, "... its CRC-64 the source's");
    check(strlen(r.etag) > 2, "... and an ETag");
    check(p.calls > 0 && p.monotonic && p.done == r.size && p.total == r.size,
          "progress ends at the size, never going back");
    check(same_bytes(c, bucket, src, dst), "the copy holds the source's bytes");
    head_crc(c, bucket, dst, ct, sizeof ct);
    check(strcmp(ct, "text/csv") == 0, "the source's Content-Type is copied");

    /* Replaced metadata. */
    check_code(ossr_copy_options_new(&o, err), OSSR_OK, err, "copy options are made");
    check_code(ossr_copy_options_add_header(o, "x-oss-copy-source", "/b/k", err),
               OSSR_ERR_INVALID_ARGUMENT, err, "a header the copy sets is refused");
    check_code(ossr_copy_options_set_threads(o, 0, err), OSSR_ERR_INVALID_ARGUMENT, err,
               "0 threads are refused");
    check_code(ossr_copy_options_set_part_size(o, 1000, err), OSSR_ERR_INVALID_ARGUMENT, err,
               "a part size under 100 KB is refused");
    check_code(ossr_copy_options_add_header(o, "Content-Type", "text/plain", err), OSSR_OK, err,
               "Content-Type is added, replacing the metadata");
    snprintf(replaced, sizeof replaced, "%s-replaced", dst);
    rc = ossr_client_copy_object(c, bucket, src, bucket, replaced, o, NULL, NULL, NULL, err);
    check_code(rc, OSSR_OK, err, "a copy with replaced metadata and no report succeeds");
    head_crc(c, bucket, replaced, ct, sizeof ct);
    check(strcmp(ct, "text/plain") == 0, "... with the new Content-Type");
    check_code(ossr_copy_options_set_metadata_replace(o, false, err), OSSR_OK, err,
               "metadata copying is set back");
    check_code(ossr_copy_options_set_forbid_overwrite(o, true, err), OSSR_OK, err,
               "forbid-overwrite is set");
    rc = ossr_client_copy_object(c, bucket, src, bucket, replaced, o, NULL, NULL, NULL, err);
    check_code(rc, OSSR_ERR_INVALID_ARGUMENT, err, "an existing destination is not replaced");
    {
        char code[64] = "";
        ossr_error_oss_code(err, code, sizeof code, NULL);
        check(strcmp(code, "FileAlreadyExists") == 0, "... FileAlreadyExists");
    }
    head_crc(c, bucket, replaced, ct, sizeof ct);
    check(strcmp(ct, "text/plain") == 0, "... and is left as it was");
    rc = ossr_client_copy_object(c, bucket, "no/such/key", bucket, replaced, NULL, NULL, NULL,
                                 NULL, err);
    check_code(rc, OSSR_ERR_NOT_FOUND, err, "a missing source is not found");
    rc = ossr_client_copy_object(c, bucket, NULL, bucket, replaced, NULL, NULL, NULL, NULL, err);
    check_code(rc, OSSR_ERR_NULL_ARGUMENT, err, "a NULL source key is refused");

    /* The report's struct_size: 0 is refused before the copy, naming it. */
    {
        struct {
            ossr_copy_report r;
            uint64_t after; /* what a newer header's caller would have beyond */
        } grown;
        char msg[512] = "";
        memset(&grown, 0, sizeof grown);
        rc = ossr_client_copy_object(c, bucket, src, bucket, "never-made", NULL, NULL, NULL,
                                     &grown.r, err);
        check_code(rc, OSSR_ERR_INVALID_ARGUMENT, err, "a report with struct_size 0 is refused");
        ossr_error_message(err, msg, sizeof msg, NULL);
        check(strstr(msg, "report->struct_size") != NULL, "... and the message names it");
        check(head_crc(c, bucket, "never-made", NULL, 0) == 0, "... before any copy is made");
        grown.r.struct_size = sizeof grown.r - 1;
        rc = ossr_client_copy_object(c, bucket, src, bucket, "never-made", NULL, NULL, NULL,
                                     &grown.r, err);
        check_code(rc, OSSR_ERR_INVALID_ARGUMENT, err, "a struct_size one byte short too");
        /* A caller whose struct is larger gets the fields this library knows. */
        grown.r.struct_size = sizeof grown;
        grown.after = 0x5a5a5a5a5a5a5a5aULL;
        rc = ossr_client_copy_object(c, bucket, src, bucket, dst, NULL, NULL, NULL, &grown.r, err);
        check_code(rc, OSSR_OK, err, "a larger struct_size is accepted");
        check(grown.r.struct_size == sizeof grown && grown.r.size == r.size &&
                  grown.after == 0x5a5a5a5a5a5a5a5aULL,
              "... the known fields written, struct_size and what lies beyond left alone");
    }

    ossr_copy_options_free(o);
    ossr_copy_options_free(NULL);
    ossr_error_free(err);
    ossr_client_free(c);
    pthread_mutex_destroy(&p.lock);
    return 0;
}

/* Options for the multipart modes: always multipart, parts of `part`, a checkpoint
 * directory, and the token (may be NULL) through request options freed at once. */
static ossr_copy_options *multipart_options(const char *ckpt, uint64_t part, unsigned threads,
                                            const ossr_cancel_token *token) {
    ossr_copy_options *o = NULL;
    ossr_request_options *req = NULL;
    ossr_result rc = ossr_copy_options_new(&o, NULL);
    if (rc == OSSR_OK) rc = ossr_copy_options_set_threshold(o, 1, NULL);
    if (rc == OSSR_OK) rc = ossr_copy_options_set_part_size(o, part, NULL);
    if (rc == OSSR_OK) rc = ossr_copy_options_set_threads(o, threads, NULL);
    if (rc == OSSR_OK) rc = ossr_copy_options_set_checkpoint_dir(o, ckpt, NULL);
    if (rc == OSSR_OK) rc = ossr_copy_options_set_wait_if_busy(o, false, NULL);
    if (rc == OSSR_OK) rc = ossr_copy_options_set_allow_stream_fallback(o, false, NULL);
    if (rc == OSSR_OK) rc = ossr_request_options_new(&req, NULL);
    if (rc == OSSR_OK) rc = ossr_request_options_set_cancel_token(req, token, NULL);
    if (rc == OSSR_OK) rc = ossr_copy_options_set_request(o, req, NULL);
    ossr_request_options_free(req);
    if (rc != OSSR_OK) {
        fprintf(stderr, "copy options: %s\n", ossr_result_str(rc));
        exit(2);
    }
    return o;
}

static int multipart(const char *bucket, const char *src, const char *dst, const char *ckpt,
                     uint64_t part) {
    ossr_client *c = make_client();
    ossr_error *err = ossr_error_new();
    ossr_copy_options *o = multipart_options(ckpt, part, 3, NULL);
    ossr_copy_report r;
    struct progress p;
    uint64_t src_crc = head_crc(c, bucket, src, NULL, 0);
    ossr_result rc;

    progress_init(&p);
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    rc = ossr_client_copy_object(c, bucket, src, bucket, dst, o, on_progress, &p, &r, err);
    check_code(rc, OSSR_OK, err, "a multipart copy succeeds");
    check(r.path == OSSR_COPY_PATH_SERVER_MULTIPART, "... as UploadPartCopy parts");
    check(r.part_size == part && r.parts == (r.size + part - 1) / part && r.parts > 1,
          "... in parts of the size asked for");
    check(r.parts_copied == r.parts && r.parts_reused == 0, "... every part copied by this call");
    check(r.checkpoint == OSSR_CHECKPOINT_NOT_FOUND, "... from no checkpoint");
    check(r.has_crc64 && r.crc64 == src_crc && src_crc != 0, "... its CRC-64 the source's");
    check(p.monotonic && p.done == r.size && p.total == r.size, "progress ends at the size");
    check(same_bytes(c, bucket, src, dst), "the copy holds the source's bytes");
    check(count_files(ckpt) == 0, "a finished copy removes its checkpoint");
    printf("# size %llu, %llu parts\n", (unsigned long long)r.size, (unsigned long long)r.parts);
    ossr_copy_options_free(o);
    ossr_error_free(err);
    ossr_client_free(c);
    pthread_mutex_destroy(&p.lock);
    return 0;
}

struct copy_call {
    ossr_client *client;
    const char *bucket, *src, *dst;
    ossr_copy_options *opts;
    struct progress progress;
    pthread_mutex_t lock;
    int finished;
    ossr_result rc;
};

static void *run_copy(void *arg) {
    struct copy_call *call = (struct copy_call *)arg;
    ossr_result rc = ossr_client_copy_object(call->client, call->bucket, call->src, call->bucket,
                                             call->dst, call->opts, on_progress, &call->progress,
                                             NULL, NULL);
    pthread_mutex_lock(&call->lock);
    call->rc = rc;
    call->finished = 1;
    pthread_mutex_unlock(&call->lock);
    return NULL;
}

static int cancel(const char *bucket, const char *src, const char *dst, const char *ckpt,
                  uint64_t part, uint64_t parts_before) {
    struct copy_call call;
    ossr_cancel_token *token = NULL;
    pthread_t thread;
    double deadline, at, took;
    uint64_t done = 0;
    int finished = 0;

    check_code(ossr_cancel_token_new(&token, NULL), OSSR_OK, NULL, "a token is made");
    memset(&call, 0, sizeof call);
    call.client = make_client();
    call.bucket = bucket;
    call.src = src;
    call.dst = dst;
    call.opts = multipart_options(ckpt, part, 1, token);
    progress_init(&call.progress);
    pthread_mutex_init(&call.lock, NULL);
    pthread_create(&thread, NULL, run_copy, &call);
    /* Wait on state: the progress callback has seen the parts done. */
    deadline = now_ms() + 60000.0;
    while (now_ms() < deadline) {
        pthread_mutex_lock(&call.progress.lock);
        done = call.progress.done;
        pthread_mutex_unlock(&call.progress.lock);
        pthread_mutex_lock(&call.lock);
        finished = call.finished;
        pthread_mutex_unlock(&call.lock);
        if (finished || done >= parts_before * part) {
            break;
        }
        nap_ms(2);
    }
    check(!finished && done >= parts_before * part, "the copy is under way, parts done");
    at = now_ms();
    check_code(ossr_cancel_token_cancel(token), OSSR_OK, NULL, "cancel from another thread");
    pthread_join(thread, NULL);
    took = now_ms() - at;
    printf("# copy cancel latency %.1f ms, %llu bytes done\n", took, (unsigned long long)done);
    check_code(call.rc, OSSR_ERR_CANCELLED, NULL, "the copy returns OSSR_ERR_CANCELLED");
    check(took < CANCEL_LIMIT_MS, "... within 1 s of the cancel");
    check(count_files(ckpt) == 1, "... and keeps its checkpoint");
    ossr_copy_options_free(call.opts);
    ossr_cancel_token_free(token);
    ossr_client_free(call.client);
    pthread_mutex_destroy(&call.lock);
    pthread_mutex_destroy(&call.progress.lock);
    return 0;
}

static int resume(const char *bucket, const char *src, const char *dst, const char *ckpt,
                  uint64_t part) {
    ossr_client *c = make_client();
    ossr_error *err = ossr_error_new();
    ossr_copy_options *o = multipart_options(ckpt, part, 3, NULL);
    ossr_copy_report r;
    uint64_t src_crc = head_crc(c, bucket, src, NULL, 0);
    ossr_result rc;

    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    rc = ossr_client_copy_object(c, bucket, src, bucket, dst, o, NULL, NULL, &r, err);
    check_code(rc, OSSR_OK, err, "the cancelled copy resumes");
    check(r.checkpoint == OSSR_CHECKPOINT_RESUMED, "... from its checkpoint");
    check(r.parts_reused > 0 && r.parts_reused + r.parts_copied == r.parts,
          "... keeping the parts copied before the cancel");
    check(r.path == OSSR_COPY_PATH_SERVER_MULTIPART && r.crc64 == src_crc,
          "... on the server, with the source's CRC-64");
    check(same_bytes(c, bucket, src, dst), "the copy holds the source's bytes");
    check(count_files(ckpt) == 0, "the checkpoint is removed");
    printf("# reused %llu, copied %llu of %llu parts\n", (unsigned long long)r.parts_reused,
           (unsigned long long)r.parts_copied, (unsigned long long)r.parts);
    ossr_copy_options_free(o);
    ossr_error_free(err);
    ossr_client_free(c);
    return 0;
}

int main(int argc, char **argv) {
    const char *bucket = env("OSSR_TEST_BUCKET");
    const char *mode = argc >= 2 ? argv[1] : "";
    int rc;
    if (strcmp(mode, "small") == 0 && argc == 4) {
        rc = small(bucket, argv[2], argv[3]);
    } else if (strcmp(mode, "multipart") == 0 && argc == 6) {
        rc = multipart(bucket, argv[2], argv[3], argv[4], strtoull(argv[5], NULL, 10));
    } else if (strcmp(mode, "cancel") == 0 && argc == 7) {
        rc = cancel(bucket, argv[2], argv[3], argv[4], strtoull(argv[5], NULL, 10),
                    strtoull(argv[6], NULL, 10));
    } else if (strcmp(mode, "resume") == 0 && argc == 6) {
        rc = resume(bucket, argv[2], argv[3], argv[4], strtoull(argv[5], NULL, 10));
    } else {
        fprintf(stderr, "usage: copy small|multipart|cancel|resume ...\n");
        return 2;
    }
    if (rc != 0) {
        return rc;
    }
    printf("1..%d\n", checks);
    return failures == 0 ? 0 : 1;
}
