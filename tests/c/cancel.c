/*
 * Cancelling from another thread (issue 11): a download the server stalls mid-body
 * and a HEAD a silent server never answers both end within a second of
 * ossr_cancel_token_cancel, and the download resumes afterwards.
 *
 *   usage: cancel stalled TARGET CKPTDIR THREADS PART_SIZE STALL_BYTES
 *            (the server stalls every GET body after STALL_BYTES, for far longer
 *            than the test: the download is cancelled once each of the THREADS
 *            bodies has stalled, and must give OSSR_ERR_CANCELLED within 1 s)
 *          cancel resume TARGET CKPTDIR THREADS PART_SIZE
 *            (no faults: the same download resumes from the checkpoint; prints
 *            "crc64 N" of the file it wrote)
 *          cancel head
 *            (a HEAD to a local socket that reads the request and never answers)
 *   env:   OSS_ENDPOINT, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET,
 *          OSSR_TEST_BUCKET, OSSR_TEST_KEY
 *
 * Prints one "ok" or "not ok" line per check and the measured latencies as "#"
 * lines, then the plan "1..N"; exits non-zero if any check failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "oss_resume.h"

/* The allowance on a loaded machine; the design target is 200 ms. */
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

static void check_code(ossr_result got, ossr_result want, const char *what) {
    if (got != want) {
        printf("# %s: got %u (%s), want %u (%s)\n", what, (unsigned)got, ossr_result_str(got),
               (unsigned)want, ossr_result_str(want));
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

static ossr_client *make_client(const char *endpoint) {
    ossr_config_builder *b = NULL;
    ossr_client *c = NULL;
    ossr_result rc = ossr_config_builder_new(endpoint, &b, NULL);
    if (rc == OSSR_OK) {
        rc = ossr_config_builder_set_signature_version(b, OSSR_SIGNATURE_V1, NULL);
    }
    if (rc == OSSR_OK) {
        rc = ossr_config_builder_set_credentials(b, env("OSS_ACCESS_KEY_ID"),
                                                 env("OSS_ACCESS_KEY_SECRET"), NULL, NULL);
    }
    if (rc == OSSR_OK) {
        rc = ossr_client_new(b, &c, NULL);
    }
    ossr_config_builder_free(b);
    if (rc != OSSR_OK) {
        fprintf(stderr, "making the client failed: %s\n", ossr_result_str(rc));
        exit(2);
    }
    return c;
}

/* ---- the stalled download ---------------------------------------------------- */

struct download {
    ossr_client *client;
    const char *bucket, *key, *target;
    ossr_download_options *opts;
    pthread_mutex_t lock; /* guards `done` and `finished` */
    uint64_t done;
    int finished;
    ossr_result rc;
};

static int on_progress(void *userdata, uint64_t done, uint64_t total) {
    struct download *d = (struct download *)userdata;
    (void)total;
    pthread_mutex_lock(&d->lock);
    d->done = done;
    pthread_mutex_unlock(&d->lock);
    return 0;
}

static void *run_download(void *arg) {
    struct download *d = (struct download *)arg;
    ossr_result rc = ossr_client_download(d->client, d->bucket, d->key, d->target, d->opts,
                                          on_progress, d, NULL, NULL);
    pthread_mutex_lock(&d->lock);
    d->rc = rc;
    d->finished = 1;
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* Download options with `token` (may be NULL) set through request options that are
 * freed before the call: the download options keep their own reference. */
static ossr_download_options *download_options(const char *ckpt_dir, unsigned threads,
                                               uint64_t part_size,
                                               const ossr_cancel_token *token) {
    ossr_download_options *o = NULL;
    ossr_request_options *req = NULL;
    ossr_result rc = ossr_download_options_new(&o, NULL);
    if (rc == OSSR_OK) rc = ossr_download_options_set_checkpoint_dir(o, ckpt_dir, NULL);
    if (rc == OSSR_OK) rc = ossr_download_options_set_threads(o, threads, NULL);
    if (rc == OSSR_OK) rc = ossr_download_options_set_part_size(o, part_size, NULL);
    if (rc == OSSR_OK) rc = ossr_download_options_set_multiget_threshold(o, 1, NULL);
    if (rc == OSSR_OK) rc = ossr_request_options_new(&req, NULL);
    if (rc == OSSR_OK) rc = ossr_request_options_set_cancel_token(req, token, NULL);
    if (rc == OSSR_OK) rc = ossr_download_options_set_request(o, req, NULL);
    ossr_request_options_free(req);
    if (rc != OSSR_OK) {
        fprintf(stderr, "download options: %s\n", ossr_result_str(rc));
        exit(2);
    }
    return o;
}

static int stalled(int argc, char **argv) {
    const char *target, *ckpt_dir;
    unsigned threads;
    uint64_t part_size, stall_bytes, done = 0;
    ossr_cancel_token *token = NULL;
    ossr_request_options *req = NULL;
    ossr_object_info *info = NULL;
    struct download d;
    pthread_t thread;
    double deadline, cancelled_at, took, head_took;
    int finished = 0;
    ossr_result rc;
    FILE *f;
    if (argc != 7) {
        fprintf(stderr, "usage: cancel stalled TARGET CKPTDIR THREADS PART_SIZE STALL_BYTES\n");
        return 2;
    }
    target = argv[2];
    ckpt_dir = argv[3];
    threads = (unsigned)strtoul(argv[4], NULL, 10);
    part_size = strtoull(argv[5], NULL, 10);
    stall_bytes = strtoull(argv[6], NULL, 10);

    check_code(ossr_cancel_token_new(&token, NULL), OSSR_OK, "a token is made");
    check(!ossr_cancel_token_is_cancelled(token), "a new token is not cancelled");

    memset(&d, 0, sizeof d);
    d.client = make_client(env("OSS_ENDPOINT"));
    d.bucket = env("OSSR_TEST_BUCKET");
    d.key = env("OSSR_TEST_KEY");
    d.target = target;
    d.opts = download_options(ckpt_dir, threads, part_size, token);
    pthread_mutex_init(&d.lock, NULL);
    if (pthread_create(&thread, NULL, run_download, &d) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        return 2;
    }
    /* Wait on state: every body has sent its bytes and stalled. */
    deadline = now_ms() + 60000.0;
    while (now_ms() < deadline) {
        pthread_mutex_lock(&d.lock);
        done = d.done;
        finished = d.finished;
        pthread_mutex_unlock(&d.lock);
        if (finished || done >= threads * stall_bytes) {
            break;
        }
        nap_ms(5);
    }
    if (done < threads * stall_bytes) {
        printf("# progress reached %llu of %llu bytes; finished %d\n", (unsigned long long)done,
               (unsigned long long)(threads * stall_bytes), finished);
    }
    check(!finished && done >= threads * stall_bytes,
          "the download stalls with every body's bytes received");

    cancelled_at = now_ms();
    check_code(ossr_cancel_token_cancel(token), OSSR_OK, "cancel from another thread");
    check_code(ossr_cancel_token_cancel(token), OSSR_OK, "cancelling again is harmless");
    pthread_join(thread, NULL);
    took = now_ms() - cancelled_at;
    printf("# download cancel latency %.1f ms\n", took);
    check_code(d.rc, OSSR_ERR_CANCELLED, "the stalled download returns OSSR_ERR_CANCELLED");
    check(took < CANCEL_LIMIT_MS, "... within 1 s of the cancel");
    check(ossr_cancel_token_is_cancelled(token), "the token says it is cancelled");
    f = fopen(target, "rb");
    check(f == NULL, "a cancelled download leaves no target");
    if (f != NULL) {
        fclose(f);
    }

    /* A call given a token already cancelled ends at once. */
    rc = ossr_request_options_new(&req, NULL);
    if (rc == OSSR_OK) rc = ossr_request_options_set_cancel_token(req, token, NULL);
    /* The options hold their own reference: the handle can go now. */
    ossr_cancel_token_free(token);
    ossr_cancel_token_free(NULL);
    head_took = now_ms();
    rc = ossr_client_head(d.client, d.bucket, d.key, req, &info, NULL);
    head_took = now_ms() - head_took;
    check_code(rc, OSSR_ERR_CANCELLED, "a HEAD with a token cancelled before is cancelled");
    check(info == NULL, "... and writes no output");
    check(head_took < CANCEL_LIMIT_MS, "... at once");
    ossr_object_info_free(info);
    /* Clearing the token makes the options usable again. */
    check_code(ossr_request_options_set_cancel_token(req, NULL, NULL), OSSR_OK,
               "a NULL token clears it");
    rc = ossr_client_head(d.client, d.bucket, d.key, req, &info, NULL);
    check_code(rc, OSSR_OK, "the HEAD succeeds without it");
    ossr_object_info_free(info);
    ossr_request_options_free(req);

    ossr_download_options_free(d.opts);
    ossr_client_free(d.client);
    pthread_mutex_destroy(&d.lock);
    return 0;
}

static int resume(int argc, char **argv) {
    ossr_client *client;
    ossr_download_options *opts;
    ossr_download_report report;
    ossr_result rc;
    uint64_t crc = 0;
    unsigned char buf[65536];
    size_t n;
    FILE *f;
    if (argc != 6) {
        fprintf(stderr, "usage: cancel resume TARGET CKPTDIR THREADS PART_SIZE\n");
        return 2;
    }
    client = make_client(env("OSS_ENDPOINT"));
    opts = download_options(argv[3], (unsigned)strtoul(argv[4], NULL, 10),
                            strtoull(argv[5], NULL, 10), NULL);
    memset(&report, 0, sizeof report);
    report.struct_size = sizeof report;
    rc = ossr_client_download(client, env("OSSR_TEST_BUCKET"), env("OSSR_TEST_KEY"), argv[2],
                              opts, NULL, NULL, &report, NULL);
    check_code(rc, OSSR_OK, "the download resumes after the cancel");
    check(report.checkpoint == OSSR_CHECKPOINT_RESUMED, "... from the kept checkpoint");
    check(report.verified, "... and is verified by CRC-64");
    f = fopen(argv[2], "rb");
    check(f != NULL, "the target is in place");
    if (f != NULL) {
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
            crc = ossr_crc64_update(crc, buf, n);
        }
        fclose(f);
    }
    check(crc == report.crc64, "the file's CRC-64 is the object's");
    printf("# reused %llu, fetched %llu\n", (unsigned long long)report.bytes_reused,
           (unsigned long long)report.bytes_fetched);
    printf("# crc64 %llu\n", (unsigned long long)crc);
    ossr_download_options_free(opts);
    ossr_client_free(client);
    return 0;
}

/* ---- a HEAD to a silent server -------------------------------------------------- */

struct silent {
    int listener;
    pthread_mutex_t lock;
    int request_read; /* the request head arrived */
    int release;      /* the test is over: close the connection */
};

static void *silent_server(void *arg) {
    struct silent *s = (struct silent *)arg;
    char last[4] = {0, 0, 0, 0};
    char c;
    int release = 0;
    int conn = accept(s->listener, NULL, NULL);
    if (conn < 0) {
        return NULL;
    }
    /* Read up to the blank line that ends the request head, then say nothing. */
    while (read(conn, &c, 1) == 1) {
        memmove(last, last + 1, 3);
        last[3] = c;
        if (memcmp(last, "\r\n\r\n", 4) == 0) {
            break;
        }
    }
    pthread_mutex_lock(&s->lock);
    s->request_read = 1;
    pthread_mutex_unlock(&s->lock);
    while (!release) {
        nap_ms(5);
        pthread_mutex_lock(&s->lock);
        release = s->release;
        pthread_mutex_unlock(&s->lock);
    }
    close(conn);
    return NULL;
}

struct head_call {
    ossr_client *client;
    ossr_request_options *req;
    ossr_result rc;
};

static void *run_head(void *arg) {
    struct head_call *h = (struct head_call *)arg;
    ossr_object_info *info = NULL;
    h->rc = ossr_client_head(h->client, "c-bucket", "silent", h->req, &info, NULL);
    ossr_object_info_free(info);
    return NULL;
}

static int head(void) {
    struct silent s;
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    char endpoint[64];
    pthread_t server, caller;
    struct head_call h;
    ossr_cancel_token *token = NULL;
    double deadline, cancelled_at, took;
    int seen = 0;

    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.lock, NULL);
    s.listener = socket(AF_INET, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (s.listener < 0 || bind(s.listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(s.listener, 1) != 0 ||
        getsockname(s.listener, (struct sockaddr *)&addr, &len) != 0) {
        fprintf(stderr, "cannot listen on 127.0.0.1\n");
        return 2;
    }
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%u", (unsigned)ntohs(addr.sin_port));
    pthread_create(&server, NULL, silent_server, &s);

    memset(&h, 0, sizeof h);
    h.client = make_client(endpoint);
    check_code(ossr_cancel_token_new(&token, NULL), OSSR_OK, "a token is made");
    check_code(ossr_request_options_new(&h.req, NULL), OSSR_OK, "request options are made");
    check_code(ossr_request_options_set_cancel_token(h.req, token, NULL), OSSR_OK,
               "the token is set on them");
    pthread_create(&caller, NULL, run_head, &h);
    deadline = now_ms() + 30000.0;
    while (!seen && now_ms() < deadline) {
        nap_ms(5);
        pthread_mutex_lock(&s.lock);
        seen = s.request_read;
        pthread_mutex_unlock(&s.lock);
    }
    check(seen, "the silent server got the HEAD");
    cancelled_at = now_ms();
    ossr_cancel_token_cancel(token);
    pthread_join(caller, NULL);
    took = now_ms() - cancelled_at;
    printf("# head cancel latency %.1f ms\n", took);
    check_code(h.rc, OSSR_ERR_CANCELLED, "a HEAD waiting for a silent server is cancelled");
    check(took < CANCEL_LIMIT_MS, "... within 1 s of the cancel");

    pthread_mutex_lock(&s.lock);
    s.release = 1;
    pthread_mutex_unlock(&s.lock);
    pthread_join(server, NULL);
    close(s.listener);
    pthread_mutex_destroy(&s.lock);
    ossr_request_options_free(h.req);
    ossr_cancel_token_free(token);
    ossr_client_free(h.client);
    return 0;
}

int main(int argc, char **argv) {
    int rc;
    if (argc >= 2 && strcmp(argv[1], "stalled") == 0) {
        rc = stalled(argc, argv);
    } else if (argc >= 2 && strcmp(argv[1], "resume") == 0) {
        rc = resume(argc, argv);
    } else if (argc == 2 && strcmp(argv[1], "head") == 0) {
        rc = head();
    } else {
        fprintf(stderr, "usage: cancel stalled|resume|head ...\n");
        return 2;
    }
    if (rc != 0) {
        return rc;
    }
    printf("1..%d\n", checks);
    return failures == 0 ? 0 : 1;
}
