/*
 * Resumable upload of a file with request headers. An interrupted upload (Ctrl-C,
 * crash, network) resumes on the next run; uploads it supersedes are aborted.
 *
 *   usage: upload FILE BUCKET KEY ['Name: value']...
 *   e.g.   upload video.mp4 media 2024/video.mp4 'x-oss-meta-owner: ana' \
 *                 'x-oss-storage-class: IA'
 */
#define _POSIX_C_SOURCE 200809L /* sigaction */
#include <signal.h>
#include <string.h>

#include "example.h"

static volatile sig_atomic_t interrupted = 0;

static void on_sigint(int signo) {
    (void)signo;
    interrupted = 1;
}

static int show_progress(void *userdata, uint64_t done, uint64_t total) {
    (void)userdata;
    example_show_progress(done, total);
    return interrupted;
}

/* Adds one "Name: value" header to the options. */
static ossr_result add_header(ossr_upload_options *opts, const char *line, ossr_error *err) {
    char name[256];
    const char *colon = strchr(line, ':');
    size_t len = colon ? (size_t)(colon - line) : 0;

    if (colon == NULL || len == 0 || len >= sizeof name) {
        fprintf(stderr, "a header looks like 'Name: value', not '%s'\n", line);
        return OSSR_ERR_INVALID_ARGUMENT;
    }
    memcpy(name, line, len);
    name[len] = '\0';
    colon++;
    while (*colon == ' ') {
        colon++;
    }
    return ossr_upload_options_add_header(opts, name, colon, err);
}

int main(int argc, char **argv) {
    ossr_error *err = ossr_error_new();
    ossr_client *client = NULL;
    ossr_upload_options *opts = NULL;
    ossr_upload_report report;
    struct sigaction action;
    ossr_result rc;
    int status = 1;
    int i;

    if (argc < 4) {
        fprintf(stderr, "usage: %s FILE BUCKET KEY ['Name: value']...\n", argv[0]);
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
    rc = ossr_upload_options_new(&opts, err);
    for (i = 4; rc == OSSR_OK && i < argc; i++) {
        rc = add_header(opts, argv[i], err);
    }
    report.struct_size = sizeof report; /* the library writes the fields that fit */
    if (rc == OSSR_OK) {
        rc = ossr_client_upload(client, argv[1], argv[2], argv[3], opts, show_progress, NULL,
                                &report, err);
    }
    example_end_progress();
    if (rc == OSSR_ERR_CANCELLED) {
        fprintf(stderr, "interrupted: the checkpoint is kept; run the same command again to "
                        "resume\n");
        status = 130;
    } else if (rc != OSSR_OK) {
        example_print_error("upload", rc, err);
    } else {
        printf("uploaded %llu bytes as %s: %s, %llu parts (%llu sent, %llu reused), etag %s, "
               "crc64 %llu\n",
               (unsigned long long)report.size, argv[3], example_checkpoint_text(report.checkpoint),
               (unsigned long long)report.parts,
               (unsigned long long)report.parts_uploaded, (unsigned long long)report.parts_reused,
               report.etag, (unsigned long long)report.crc64);
        status = 0;
    }
done:
    ossr_upload_options_free(opts);
    ossr_client_free(client);
    ossr_error_free(err);
    return status;
}
