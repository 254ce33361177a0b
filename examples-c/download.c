/*
 * Resumable download with a progress line; Ctrl-C stops it and keeps the
 * checkpoint, so running the same command again resumes where it stopped.
 *
 *   usage: download BUCKET KEY FILE [THREADS]
 */
#define _POSIX_C_SOURCE 200809L /* sigaction */
#include <signal.h>
#include <string.h>

#include "example.h"

static volatile sig_atomic_t interrupted = 0;

static void on_sigint(int signo) {
    (void)signo;
    interrupted = 1; /* the progress callback sees it and cancels */
}

/* Runs on the thread that called ossr_client_download, one call at a time. */
static int show_progress(void *userdata, uint64_t done, uint64_t total) {
    (void)userdata;
    example_show_progress(done, total);
    return interrupted; /* non-zero cancels the download */
}

int main(int argc, char **argv) {
    ossr_error *err = ossr_error_new();
    ossr_client *client = NULL;
    ossr_download_options *opts = NULL;
    ossr_download_report report;
    struct sigaction action;
    ossr_result rc;
    int status = 1;

    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s BUCKET KEY FILE [THREADS]\n", argv[0]);
        ossr_error_free(err);
        return 2;
    }
    memset(&action, 0, sizeof action);
    action.sa_handler = on_sigint;
    sigaction(SIGINT, &action, NULL);

    client = example_client(err);
    if (client == NULL) {
        goto done;
    }
    rc = ossr_download_options_new(&opts, err);
    if (rc == OSSR_OK && argc == 5) {
        rc = ossr_download_options_set_threads(opts, (uint32_t)strtoul(argv[4], NULL, 10), err);
    }
    report.struct_size = sizeof report; /* the library writes the fields that fit */
    if (rc == OSSR_OK) {
        rc = ossr_client_download(client, argv[1], argv[2], argv[3], opts, show_progress, NULL,
                                  &report, err);
    }
    example_end_progress();
    if (rc == OSSR_ERR_CANCELLED) {
        fprintf(stderr, "interrupted: the checkpoint is kept; run the same command again to "
                        "resume\n");
        status = 130;
    } else if (rc != OSSR_OK) {
        example_print_error("download", rc, err);
    } else {
        printf("downloaded %llu bytes to %s: %s, fetched %llu, reused %llu, %llu parts, crc64 "
               "%llu%s\n",
               (unsigned long long)report.size, argv[3], example_checkpoint_text(report.checkpoint),
               (unsigned long long)report.bytes_fetched, (unsigned long long)report.bytes_reused,
               (unsigned long long)report.parts, (unsigned long long)report.crc64,
               report.verified ? " verified" : " (not verified)");
        status = 0;
    }
done:
    ossr_download_options_free(opts);
    ossr_client_free(client);
    ossr_error_free(err);
    return status;
}
