/*
 * Whole prefixes from C: a directory up to a prefix and back down, options set
 * through their setters, progress in files and bytes, a cancel from the progress
 * callback, the report's counts and names.
 *
 *   usage: dir BUCKET SRCDIR DSTDIR
 *   env:   OSS_ENDPOINT, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET
 *
 * Prints "up T U F" and "down T U F" (transferred, unchanged, failed), each
 * followed by "progress FILES/FILES_TOTAL BYTES/BYTES_TOTAL FIRST_FILES" (the last
 * call, and the first call's files done), then "failed NAME" per failed file of
 * the download, and "ok"/"not ok" lines for the checks. Exits non-zero if any
 * check failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oss_resume.h"

static int failures = 0;

static void check(int ok, const char *what) {
    failures += !ok;
    printf("%s - %s\n", ok ? "ok" : "not ok", what);
}

/* What the progress callback saw: the first call and the last. */
typedef struct {
    uint64_t calls;
    int bad; /* a call stepped back, passed a total, changed one, or had a wrong size */
    uint64_t cancel_at_call; /* 0: never cancel */
    ossr_dir_progress first;
    ossr_dir_progress last;
} seen_progress;

static int watch_progress(void *userdata, const ossr_dir_progress *p) {
    seen_progress *seen = (seen_progress *)userdata;
    if (p->struct_size != sizeof(ossr_dir_progress) || p->files_done > p->files_total ||
        p->bytes_done > p->bytes_total) {
        seen->bad = 1;
    }
    if (seen->calls == 0) {
        seen->first = *p;
    } else if (p->files_done < seen->last.files_done || p->bytes_done < seen->last.bytes_done ||
               p->files_total != seen->last.files_total ||
               p->bytes_total != seen->last.bytes_total) {
        seen->bad = 1;
    }
    seen->last = *p;
    seen->calls++;
    return seen->calls == seen->cancel_at_call;
}

static void print_progress(const seen_progress *seen) {
    printf("progress %llu/%llu %llu/%llu %llu\n", (unsigned long long)seen->last.files_done,
           (unsigned long long)seen->last.files_total, (unsigned long long)seen->last.bytes_done,
           (unsigned long long)seen->last.bytes_total, (unsigned long long)seen->first.files_done);
}

int main(int argc, char **argv) {
    ossr_error *err = ossr_error_new();
    ossr_config_builder *b = NULL;
    ossr_client *c = NULL;
    ossr_dir_options *opts = NULL;
    ossr_dir_report *report = NULL;
    ossr_dir_counts counts;
    seen_progress seen;
    char name[1024];
    uint64_t i;

    if (argc != 4) {
        fprintf(stderr, "usage: dir BUCKET SRCDIR DSTDIR\n");
        return 2;
    }
    if (ossr_config_builder_new(getenv("OSS_ENDPOINT"), &b, err) != OSSR_OK ||
        ossr_config_builder_set_signature_version(b, OSSR_SIGNATURE_V1, err) != OSSR_OK ||
        ossr_client_new(b, &c, err) != OSSR_OK) {
        fprintf(stderr, "no client\n");
        return 1;
    }
    ossr_config_builder_free(b);
    check(ossr_dir_options_new(&opts, err) == OSSR_OK, "options");
    check(ossr_dir_options_set_threads(opts, 3, err) == OSSR_OK, "threads");
    check(ossr_dir_options_set_threads(opts, 0, err) == OSSR_ERR_INVALID_ARGUMENT,
          "0 threads refused");
    check(ossr_dir_options_add_exclude(opts, "*.tmp", err) == OSSR_OK, "exclude");
    check(ossr_dir_options_add_include(opts, "", err) == OSSR_ERR_INVALID_ARGUMENT,
          "an empty glob refused");
    check(ossr_dir_options_set_compare(opts, OSSR_COMPARE_SIZE_CRC64, err) == OSSR_OK, "compare");
    check(ossr_dir_options_set_compare(opts, 9, err) == OSSR_ERR_INVALID_ARGUMENT,
          "an unknown compare refused");
    check(ossr_dir_options_set_switches(opts, false, false, false, err) == OSSR_OK, "switches");
    check(ossr_dir_options_set_large_threshold(opts, 1024 * 1024, err) == OSSR_OK, "threshold");
    check(ossr_dir_options_set_shard(opts, 2, 2, err) == OSSR_ERR_INVALID_ARGUMENT,
          "a shard index not below its count refused");
    check(ossr_dir_options_set_shard(opts, 0, 0, err) == OSSR_OK, "no shard");
    check(ossr_dir_options_set_no_fsync(NULL, true, err) == OSSR_ERR_NULL_ARGUMENT,
          "no_fsync on NULL options refused");

    memset(&seen, 0, sizeof seen);
    check(ossr_client_upload_dir(c, argv[2], argv[1], "c-dir/", opts, watch_progress, &seen,
                                 &report, err) == OSSR_OK,
          "upload_dir");
    /* A counts struct without its size is refused before anything is written. */
    memset(&counts, 0xAB, sizeof counts);
    counts.struct_size = 0;
    check(ossr_dir_report_counts(report, &counts) == OSSR_ERR_INVALID_ARGUMENT &&
              counts.struct_size == 0 && counts.files_transferred == 0xABABABABABABABABull,
          "counts with struct_size 0 refused, nothing written");
    counts.struct_size = sizeof counts;
    check(ossr_dir_report_counts(report, &counts) == OSSR_OK &&
              counts.struct_size == sizeof counts,
          "counts");
    printf("up %llu %llu %llu\n", (unsigned long long)counts.files_transferred,
           (unsigned long long)counts.files_unchanged, (unsigned long long)counts.failed);
    print_progress(&seen);
    check(seen.bad == 0, "upload progress monotone, within its totals, of the right size");
    check(seen.last.files_done == seen.last.files_total &&
              seen.last.files_total == counts.files_transferred + counts.failed &&
              seen.last.bytes_done == seen.last.bytes_total &&
              seen.last.bytes_total == counts.bytes_transferred,
          "upload progress ended at the report's files and bytes");
    ossr_dir_report_free(report);
    report = NULL;

    /* A non-zero return cancels: here at the first call, before any file moves. */
    memset(&seen, 0, sizeof seen);
    seen.cancel_at_call = 1;
    check(ossr_client_download_prefix(c, argv[1], "c-dir/", argv[3], opts, watch_progress, &seen,
                                      &report, err) == OSSR_ERR_CANCELLED,
          "a non-zero return from the progress callback cancels");
    check(seen.calls == 1 && report == NULL, "no call after the cancel, no report");

    check(ossr_dir_options_set_no_fsync(opts, true, err) == OSSR_OK, "no_fsync");
    memset(&seen, 0, sizeof seen);
    check(ossr_client_download_prefix(c, argv[1], "c-dir/", argv[3], opts, watch_progress, &seen,
                                      &report, err) == OSSR_OK,
          "download_prefix");
    counts.struct_size = sizeof counts;
    check(ossr_dir_report_counts(report, &counts) == OSSR_OK, "counts");
    check(seen.bad == 0, "download progress monotone, within its totals, of the right size");
    printf("down %llu %llu %llu\n", (unsigned long long)counts.files_transferred,
           (unsigned long long)counts.files_unchanged, (unsigned long long)counts.failed);
    print_progress(&seen);
    for (i = 0; i < counts.failed; i++) {
        if (ossr_dir_report_failed_name(report, (size_t)i, name, sizeof name, NULL) == OSSR_OK) {
            printf("failed %s\n", name);
        }
    }
    check(ossr_dir_report_failed_reason(report, (size_t)counts.failed, name, sizeof name,
                                        NULL) == OSSR_ERR_INVALID_ARGUMENT,
          "an index past the end is refused");
    ossr_dir_report_free(report);
    ossr_dir_report_free(NULL);
    ossr_dir_options_free(opts);
    ossr_client_free(c);
    ossr_error_free(err);
    return failures == 0 ? 0 : 1;
}
