/*
 * Random access from C (issue 14): an object opened with ossr_file_open and read
 * with ossr_file_read_at from four threads at once, with ossr_file_read and
 * ossr_file_seek, its stats and ETag, compared byte for byte with a local copy of
 * the object; and a file whose object is overwritten mid-read gives
 * OSSR_ERR_OBJECT_CHANGED.
 *
 *   usage: file read KEY LOCAL_COPY
 *            (KEY holds the bytes of LOCAL_COPY; prints "# fetched N" and
 *            "# requests N" as the file's stats counted them)
 *          file changed KEY
 *            (KEY is at least 4 MiB; the program overwrites it mid-read)
 *   env:   OSS_ENDPOINT, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSSR_TEST_BUCKET
 *
 * Prints one "ok" or "not ok" line per check, facts as "#" lines, then the plan
 * "1..N"; exits non-zero if any check failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oss_resume.h"

#define THREADS 4
#define READ_LEN 65536

static int failures = 0;
static int checks = 0;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static void check(int ok, const char *what) {
    pthread_mutex_lock(&print_lock);
    checks++;
    if (!ok) {
        failures++;
    }
    printf("%s %d - %s\n", ok ? "ok" : "not ok", checks, what);
    fflush(stdout);
    pthread_mutex_unlock(&print_lock);
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

static const char *env(const char *name) {
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        fprintf(stderr, "%s is not set\n", name);
        exit(2);
    }
    return v;
}

static ossr_client *make_client(uint64_t prefetch_memory) {
    ossr_config_builder *b = NULL;
    ossr_client *c = NULL;
    ossr_result rc = ossr_config_builder_new(env("OSS_ENDPOINT"), &b, NULL);
    if (rc == OSSR_OK) rc = ossr_config_builder_set_signature_version(b, OSSR_SIGNATURE_V1, NULL);
    if (rc == OSSR_OK) {
        rc = ossr_config_builder_set_credentials(b, env("OSS_ACCESS_KEY_ID"),
                                                 env("OSS_ACCESS_KEY_SECRET"), NULL, NULL);
    }
    if (rc == OSSR_OK) rc = ossr_config_builder_set_prefetch_memory(b, prefetch_memory, NULL);
    if (rc == OSSR_OK) rc = ossr_client_new(b, &c, NULL);
    ossr_config_builder_free(b);
    if (rc != OSSR_OK) {
        fprintf(stderr, "making the client failed: %s\n", ossr_result_str(rc));
        exit(2);
    }
    return c;
}

static uint8_t *read_local(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    uint8_t *data;
    long size;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    rewind(f);
    data = (uint8_t *)malloc((size_t)size + 1);
    if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)size;
    return data;
}

/* One of the threads reading one handle at once. Each reads its quarter front to
 * back in READ_LEN steps, and between steps one READ_LEN block at a place of the
 * other threads' quarters: sequential streams interleaved with scattered reads. */
struct reader {
    const ossr_file *file;
    const uint8_t *expect;
    size_t size;
    int index;
    int ok;
    ossr_result rc;
};

static void *run_reader(void *arg) {
    struct reader *r = (struct reader *)arg;
    ossr_error *err = ossr_error_new();
    uint8_t *buf = (uint8_t *)malloc(READ_LEN);
    size_t quarter = r->size / THREADS;
    size_t start = quarter * (size_t)r->index, off, step = 0;
    r->ok = buf != NULL;
    r->rc = OSSR_OK;
    for (off = start; r->ok && off < start + quarter; off += READ_LEN, step++) {
        size_t n = 0, want = start + quarter - off < READ_LEN ? start + quarter - off : READ_LEN;
        size_t other = (off * 7 + step * 104729) % (r->size - READ_LEN);
        r->rc = ossr_file_read_at(r->file, buf, want, off, &n, err);
        if (r->rc != OSSR_OK || n != want || memcmp(buf, r->expect + off, n) != 0) {
            r->ok = 0;
            break;
        }
        r->rc = ossr_file_read_at(r->file, buf, READ_LEN, other, &n, err);
        if (r->rc != OSSR_OK || n != READ_LEN || memcmp(buf, r->expect + other, n) != 0) {
            r->ok = 0;
        }
    }
    free(buf);
    ossr_error_free(err);
    return NULL;
}

static int read_mode(const char *bucket, const char *key, const char *local) {
    ossr_client *c = make_client(64u << 20);
    ossr_error *err = ossr_error_new();
    ossr_file_options *o = NULL;
    ossr_request_options *req = NULL;
    ossr_file *f = NULL, *missing = NULL;
    ossr_object_info *info = NULL;
    ossr_file_statistics st;
    struct reader readers[THREADS];
    pthread_t threads[THREADS];
    size_t size = 0, n = 0, total = 0, etag_len = 0;
    uint8_t *expect = read_local(local, &size);
    uint8_t *buf = (uint8_t *)malloc(1 << 20);
    char etag[128] = "", head_etag[128] = "";
    uint64_t pos = 0;
    int i, all_ok = 1, same = 1;

    check_code(ossr_file_options_new(&o, err), OSSR_OK, err, "file options are made");
    check_code(ossr_file_options_set_max_requests(o, 0, err), OSSR_ERR_INVALID_ARGUMENT, err,
               "0 requests in flight are refused");
    check_code(ossr_file_options_set_max_requests(o, 4, err), OSSR_OK, err,
               "4 requests in flight");
    check_code(ossr_file_options_set_max_window(o, 8u << 20, err), OSSR_OK, err,
               "an 8 MiB window");
    check_code(ossr_file_options_set_resume_attempts(o, 3, err), OSSR_OK, err, "3 resumes");
    check_code(ossr_request_options_new(&req, err), OSSR_OK, err, "request options are made");
    check_code(ossr_file_options_set_request(o, req, err), OSSR_OK, err,
               "request options are set");
    ossr_request_options_free(req);
    check_code(ossr_file_open(c, bucket, key, o, &f, err), OSSR_OK, err, "the object opens");
    ossr_file_options_free(o);
    check_code(ossr_file_open(c, bucket, "no/such/key", NULL, &missing, err),
               OSSR_ERR_NOT_FOUND, err, "a missing object is not found");
    check(missing == NULL, "... and no file is written");
    check(ossr_file_size(f) == size, "the size is the object's");
    check(ossr_file_size(NULL) == 0, "a NULL file has size 0");
    check_code(ossr_file_etag(f, etag, sizeof etag, &etag_len), OSSR_OK, NULL, "the ETag");
    ossr_client_head(c, bucket, key, NULL, &info, NULL);
    ossr_object_info_etag(info, head_etag, sizeof head_etag, NULL);
    ossr_object_info_free(info);
    check(strcmp(etag, head_etag) == 0 && etag_len == strlen(etag) && etag_len > 2,
          "... is HEAD's, quotes and all");

    /* Four threads at once on the one handle. */
    for (i = 0; i < THREADS; i++) {
        readers[i].file = f;
        readers[i].expect = expect;
        readers[i].size = size;
        readers[i].index = i;
        pthread_create(&threads[i], NULL, run_reader, &readers[i]);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        if (!readers[i].ok) {
            printf("# thread %d failed: %s\n", i, ossr_result_str(readers[i].rc));
        }
        all_ok = all_ok && readers[i].ok;
    }
    check(all_ok, "read_at from 4 threads at once gives the object's bytes");

    /* The cursor: read front to back (bounded, should the position not move),
     * then seek around. */
    while (total <= size) {
        ossr_result rc = ossr_file_read(f, buf, 1 << 20, &n, err);
        if (rc != OSSR_OK) {
            check_code(rc, OSSR_OK, err, "ossr_file_read");
            break;
        }
        if (n == 0) {
            break;
        }
        same = same && total + n <= size && memcmp(buf, expect + total, n) == 0;
        total += n;
    }
    check(same && total == size, "ossr_file_read front to back gives the object's bytes");
    check_code(ossr_file_read(f, buf, 10, &n, err), OSSR_OK, err, "a read at the end is OSSR_OK");
    check(n == 0, "... with 0 bytes");
    check_code(ossr_file_seek(f, -1000, OSSR_SEEK_END, &pos, err), OSSR_OK, err, "seek from the end");
    check(pos == size - 1000, "... to size - 1000");
    check_code(ossr_file_read(f, buf, 4096, &n, err), OSSR_OK, err, "a read across the end");
    check(n == 1000 && memcmp(buf, expect + size - 1000, 1000) == 0, "... gives the last 1000 bytes");
    check_code(ossr_file_seek(f, 12345, OSSR_SEEK_SET, NULL, err), OSSR_OK, err,
               "seek from the start (position not asked for)");
    check_code(ossr_file_seek(f, 100, OSSR_SEEK_CUR, &pos, err), OSSR_OK, err, "seek from here");
    check(pos == 12445, "... to 12445");
    check_code(ossr_file_read(f, buf, 5000, &n, err), OSSR_OK, err, "a read after seeking");
    check(n == 5000 && memcmp(buf, expect + 12445, 5000) == 0, "... gives the bytes there");
    check_code(ossr_file_seek(f, -20000, OSSR_SEEK_CUR, &pos, err), OSSR_ERR_INVALID_ARGUMENT,
               err, "a seek before 0 is refused");
    check_code(ossr_file_seek(f, 0, 7, &pos, err), OSSR_ERR_INVALID_ARGUMENT, err,
               "an unknown whence is refused");
    check_code(ossr_file_seek(f, 0, OSSR_SEEK_CUR, &pos, err), OSSR_OK, err, "... and the position");
    check(pos == 17445, "... stays where it was");
    check_code(ossr_file_read_at(f, buf, 10, (uint64_t)size + 5, &n, err), OSSR_OK, err,
               "read_at past the end is OSSR_OK");
    check(n == 0, "... with 0 bytes");
    check_code(ossr_file_read_at(f, NULL, 10, 0, &n, err), OSSR_ERR_NULL_ARGUMENT, err,
               "a NULL buffer is refused");
    check_code(ossr_file_read_at(f, buf, 10, 0, NULL, err), OSSR_ERR_NULL_ARGUMENT, err,
               "a NULL count is refused");

    st.struct_size = sizeof st;
    check_code(ossr_file_stats(f, &st), OSSR_OK, NULL, "stats");
    check_code(ossr_file_stats(f, NULL), OSSR_ERR_NULL_ARGUMENT, NULL, "stats into NULL");
    {
        ossr_file_statistics zero;
        memset(&zero, 0, sizeof zero);
        check_code(ossr_file_stats(f, &zero), OSSR_ERR_INVALID_ARGUMENT, NULL,
                   "stats with struct_size 0 are refused");
        check(zero.requests == 0, "... and nothing is written");
    }
    check(st.crc_verified, "the front-to-back read verified the CRC-64");
    check(st.requests >= 2 && st.bytes_fetched >= size && st.bytes_read >= 2 * size,
          "stats count requests, bytes fetched and bytes read");
    check(st.bytes_from_cache > 0 && st.bytes_from_cache <= st.bytes_read,
          "... and bytes served from what was fetched");
    printf("# requests %llu\n# fetched %llu\n# read %llu\n# from cache %llu\n",
           (unsigned long long)st.requests, (unsigned long long)st.bytes_fetched,
           (unsigned long long)st.bytes_read, (unsigned long long)st.bytes_from_cache);

    ossr_file_free(f);
    ossr_file_free(NULL);
    free(buf);
    free(expect);
    ossr_error_free(err);
    ossr_client_free(c);
    return 0;
}

static int changed_mode(const char *bucket, const char *key) {
    ossr_client *c = make_client(64u << 20);
    ossr_error *err = ossr_error_new();
    ossr_file *f = NULL;
    uint8_t *buf = (uint8_t *)malloc(65536);
    uint8_t *other = (uint8_t *)calloc(1, 65536);
    uint64_t size;
    size_t n = 0;

    check_code(ossr_file_open(c, bucket, key, NULL, &f, err), OSSR_OK, err, "the object opens");
    size = ossr_file_size(f);
    check(size >= (4u << 20), "it has at least 4 MiB");
    check_code(ossr_file_read_at(f, buf, 65536, 0, &n, err), OSSR_OK, err, "a first read");
    /* Overwritten by another writer while the file is open. */
    check_code(ossr_client_put_object(c, bucket, key, other, 65536, NULL, NULL, err), OSSR_OK,
               err, "the object is overwritten");
    check_code(ossr_file_read_at(f, buf, 65536, size - 65536, &n, err), OSSR_ERR_OBJECT_CHANGED,
               err, "a read after the overwrite is OSSR_ERR_OBJECT_CHANGED");
    check_code(ossr_file_read(f, buf, 65536, &n, err), OSSR_ERR_OBJECT_CHANGED, err,
               "... and so is every read after, even of bytes fetched before");
    ossr_file_free(f);
    free(buf);
    free(other);
    ossr_error_free(err);
    ossr_client_free(c);
    return 0;
}

int main(int argc, char **argv) {
    const char *bucket = env("OSSR_TEST_BUCKET");
    int rc;
    if (argc == 4 && strcmp(argv[1], "read") == 0) {
        rc = read_mode(bucket, argv[2], argv[3]);
    } else if (argc == 3 && strcmp(argv[1], "changed") == 0) {
        rc = changed_mode(bucket, argv[2]);
    } else {
        fprintf(stderr, "usage: file read KEY LOCAL_COPY | file changed KEY\n");
        return 2;
    }
    if (rc != 0) {
        return rc;
    }
    printf("1..%d\n", checks);
    return failures == 0 ? 0 : 1;
}
