/*
 * What every example shares: a client configured from the environment, and a way
 * to print a failure with everything the error object knows.
 *
 *   OSS_ENDPOINT           e.g. https://oss-cn-hangzhou.aliyuncs.com (required)
 *   OSS_REGION             e.g. cn-hangzhou; with it requests are signed V4, else V1
 *   OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN
 *                          read by the library itself when the client is made
 */
#ifndef OSSR_EXAMPLE_H
#define OSSR_EXAMPLE_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* isatty, fileno, sigaction */
#endif

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h> /* isatty */

#include "oss_resume.h"

/* Progress on stderr: redrawn in place on a terminal; in a log or a pipe, one whole
 * line per 10%, so the log reads line by line. */
static inline void example_show_progress(uint64_t done, uint64_t total) {
    static int tty = -1;
    static int last_tenth = -1;
    int tenth;

    if (total == 0) {
        return; /* unknown yet */
    }
    if (tty < 0) {
        tty = isatty(fileno(stderr));
    }
    if (tty) {
        fprintf(stderr, "\r%5.1f%%  %llu / %llu bytes", 100.0 * (double)done / (double)total,
                (unsigned long long)done, (unsigned long long)total);
        return;
    }
    tenth = (int)(done * 10 / total);
    if (tenth != last_tenth) {
        last_tenth = tenth;
        fprintf(stderr, "%5.1f%%  %llu / %llu bytes\n", 100.0 * (double)done / (double)total,
                (unsigned long long)done, (unsigned long long)total);
    }
}

/* Ends a progress line drawn in place. */
static inline void example_end_progress(void) {
    if (isatty(fileno(stderr))) {
        fputc('\n', stderr);
    }
}

/* What became of the checkpoint, in words. */
static inline const char *example_checkpoint_text(ossr_checkpoint_state state) {
    switch (state) {
    case OSSR_CHECKPOINT_RESUMED:
        return "resumed from a checkpoint";
    case OSSR_CHECKPOINT_DISCARDED:
        return "a checkpoint was found but unusable, started over";
    case OSSR_CHECKPOINT_NOT_FOUND:
        return "no checkpoint found, started fresh";
    default:
        return "small enough for one request, no checkpoint";
    }
}

/* Prints "what: <code text> (<message>) [HTTP status, OSS code, request id]". */
static void example_print_error(const char *what, ossr_result rc, const ossr_error *err) {
    char message[512], oss_code[64], request_id[64];
    /* The buffers may be too small: the text is then cut, still NUL-terminated. */
    ossr_error_message(err, message, sizeof message, NULL);
    ossr_error_oss_code(err, oss_code, sizeof oss_code, NULL);
    ossr_error_request_id(err, request_id, sizeof request_id, NULL);
    fprintf(stderr, "%s: %s (%s)", what, ossr_result_str(rc), message);
    if (ossr_error_http_status(err) != 0) {
        fprintf(stderr, " [HTTP %u, %s, request id %s]", (unsigned)ossr_error_http_status(err),
                oss_code, request_id);
    }
    fputc('\n', stderr);
}

/* Makes a client from the environment, or prints why not and returns NULL. */
static ossr_client *example_client(ossr_error *err) {
    const char *endpoint = getenv("OSS_ENDPOINT");
    const char *region = getenv("OSS_REGION");
    ossr_config_builder *builder = NULL;
    ossr_client *client = NULL;
    ossr_result rc;

    if (endpoint == NULL || endpoint[0] == '\0') {
        fprintf(stderr, "set OSS_ENDPOINT (and OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET)\n");
        return NULL;
    }
    rc = ossr_config_builder_new(endpoint, &builder, err);
    if (rc == OSSR_OK && region != NULL && region[0] != '\0') {
        rc = ossr_config_builder_set_region(builder, region, err);
    } else if (rc == OSSR_OK) {
        rc = ossr_config_builder_set_signature_version(builder, OSSR_SIGNATURE_V1, err);
    }
    if (rc == OSSR_OK) {
        /* Credentials come from the environment unless set on the builder. */
        rc = ossr_client_new(builder, &client, err);
    }
    ossr_config_builder_free(builder); /* the client keeps its own copy */
    if (rc != OSSR_OK) {
        example_print_error("configuration", rc, err);
        return NULL;
    }
    return client;
}

#endif
