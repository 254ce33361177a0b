/*
 * Whole prefixes from C: a directory up to a prefix and back down, options set
 * through their setters, progress, the report's counts and names.
 *
 *   usage: dir BUCKET SRCDIR DSTDIR
 *   env:   OSS_ENDPOINT, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET
 *
 * Prints "up T U F" and "down T U F" (transferred, unchanged, failed), then
 * "failed NAME" per failed file of the download, and "ok"/"not ok" lines for the
 * checks. Exits non-zero if any check failed.
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

static int count_progress(void *userdata, uint64_t done, uint64_t total) {
    uint64_t *seen = (uint64_t *)userdata;
    if (done > total) {
        seen[1] = 1;
    }
    seen[0] = done;
    return 0;
}

int main(int argc, char **argv) {
    ossr_error *err = ossr_error_new();
    ossr_config_builder *b = NULL;
    ossr_client *c = NULL;
    ossr_dir_options *opts = NULL;
    ossr_dir_report *report = NULL;
    ossr_dir_counts counts;
    uint64_t seen[2] = {0, 0};
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

    check(ossr_client_upload_dir(c, argv[2], argv[1], "c-dir/", opts, count_progress, seen,
                                 &report, err) == OSSR_OK,
          "upload_dir");
    check(ossr_dir_report_counts(report, &counts) == OSSR_OK, "counts");
    printf("up %llu %llu %llu\n", (unsigned long long)counts.files_transferred,
           (unsigned long long)counts.files_unchanged, (unsigned long long)counts.failed);
    check(seen[0] == counts.bytes_transferred && seen[1] == 0, "progress reached the total");
    ossr_dir_report_free(report);
    report = NULL;

    check(ossr_client_download_prefix(c, argv[1], "c-dir/", argv[3], opts, NULL, NULL, &report,
                                      err) == OSSR_OK,
          "download_prefix");
    check(ossr_dir_report_counts(report, &counts) == OSSR_OK, "counts");
    printf("down %llu %llu %llu\n", (unsigned long long)counts.files_transferred,
           (unsigned long long)counts.files_unchanged, (unsigned long long)counts.failed);
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
