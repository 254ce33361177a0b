/*
 * Eight downloads from eight threads sharing one client, each checked byte for byte
 * by CRC-64 against the object's.
 *
 *   usage: threads BUCKET KEY_PREFIX WORKDIR
 *   env:   OSS_ENDPOINT, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET; objects
 *          KEY_PREFIX0 .. KEY_PREFIX7 must exist.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oss_resume.h"

#define THREADS 8

struct job {
    const ossr_client *client;
    const ossr_download_options *opts;
    const char *bucket;
    char key[256];
    char target[1024];
    ossr_result rc;
    uint64_t size;
    uint64_t expected_crc;
    uint64_t file_crc;
    uint64_t last_done;
    int monotonic;
    char message[256];
};

static int progress(void *userdata, uint64_t done, uint64_t total) {
    struct job *job = (struct job *)userdata;
    if (done < job->last_done || done > total) {
        job->monotonic = 0;
    }
    job->last_done = done;
    return 0;
}

static void *run(void *arg) {
    struct job *job = (struct job *)arg;
    ossr_error *err = ossr_error_new();
    ossr_download_report report;
    FILE *f;
    uint8_t buf[65536];
    size_t n;

    report.struct_size = sizeof report;
    job->rc = ossr_client_download(job->client, job->bucket, job->key, job->target, job->opts,
                                   progress, job, &report, err);
    if (job->rc != OSSR_OK) {
        ossr_error_message(err, job->message, sizeof job->message, NULL);
    } else {
        job->size = report.size;
        job->expected_crc = report.crc64;
        f = fopen(job->target, "rb");
        while (f != NULL && (n = fread(buf, 1, sizeof buf, f)) > 0) {
            job->file_crc = ossr_crc64_update(job->file_crc, buf, n);
        }
        if (f != NULL) {
            fclose(f);
        }
    }
    ossr_error_free(err);
    return NULL;
}

int main(int argc, char **argv) {
    ossr_error *err = ossr_error_new();
    ossr_config_builder *b = NULL;
    ossr_client *client = NULL;
    ossr_download_options *opts = NULL;
    pthread_t threads[THREADS];
    struct job jobs[THREADS];
    int i, failures = 0;
    ossr_result rc;

    if (argc != 4) {
        fprintf(stderr, "usage: threads BUCKET KEY_PREFIX WORKDIR\n");
        return 2;
    }
    rc = ossr_config_builder_new(getenv("OSS_ENDPOINT"), &b, err);
    if (rc == OSSR_OK) {
        rc = ossr_config_builder_set_signature_version(b, OSSR_SIGNATURE_V1, err);
    }
    if (rc == OSSR_OK) {
        rc = ossr_client_new(b, &client, err);
    }
    if (rc == OSSR_OK) {
        rc = ossr_download_options_new(&opts, err);
    }
    if (rc == OSSR_OK) {
        rc = ossr_download_options_set_multiget_threshold(opts, 1, err);
    }
    if (rc == OSSR_OK) {
        rc = ossr_download_options_set_part_size(opts, 256 * 1024, err);
    }
    if (rc == OSSR_OK) {
        rc = ossr_download_options_set_threads(opts, 2, err);
    }
    if (rc != OSSR_OK) {
        fprintf(stderr, "setup failed: %s\n", ossr_result_str(rc));
        return 1;
    }
    for (i = 0; i < THREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].client = client;
        jobs[i].opts = opts; /* only read by downloads, so it may be shared */
        jobs[i].bucket = argv[1];
        jobs[i].monotonic = 1;
        snprintf(jobs[i].key, sizeof jobs[i].key, "%s%d", argv[2], i);
        snprintf(jobs[i].target, sizeof jobs[i].target, "%s/thread-%d.bin", argv[3], i);
        if (pthread_create(&threads[i], NULL, run, &jobs[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        if (jobs[i].rc != OSSR_OK || jobs[i].file_crc != jobs[i].expected_crc ||
            !jobs[i].monotonic || jobs[i].last_done != jobs[i].size) {
            failures++;
            printf("not ok %d - %s: %s (%s), crc %llu vs %llu, monotonic %d\n", i + 1, jobs[i].key,
                   ossr_result_str(jobs[i].rc), jobs[i].message,
                   (unsigned long long)jobs[i].file_crc, (unsigned long long)jobs[i].expected_crc,
                   jobs[i].monotonic);
        } else {
            printf("ok %d - %s: %llu bytes, crc64 %llu\n", i + 1, jobs[i].key,
                   (unsigned long long)jobs[i].size, (unsigned long long)jobs[i].file_crc);
        }
    }
    ossr_download_options_free(opts);
    ossr_client_free(client);
    ossr_config_builder_free(b);
    ossr_error_free(err);
    return failures == 0 ? 0 : 1;
}
