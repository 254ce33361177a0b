/*
 * Listing a bucket from C: a list handle paged with ossr_list_next, the object and
 * prefix getters, small buffers, bad options and a missing bucket.
 *
 *   usage: list BUCKET PREFIX DELIMITER PAGE_SIZE
 *   env:   OSS_ENDPOINT, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET
 *
 * Prints every entry as "object KEY SIZE MTIME ETAG TYPE CLASS" or "prefix P", one
 * "page N" line per page, and "# pages N" at the end; then one "ok"/"not ok" line
 * per check of the error paths. Exits non-zero if any check failed.
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

static void text_of(ossr_result (*get)(const ossr_list *, size_t, char *, size_t, size_t *),
                    const ossr_list *list, size_t i, char *buf, size_t len) {
    if (get(list, i, buf, len, NULL) != OSSR_OK) {
        printf("# a getter failed for entry %zu\n", i);
        failures++;
    }
}

int main(int argc, char **argv) {
    ossr_error *err = ossr_error_new();
    ossr_config_builder *b = NULL;
    ossr_client *c = NULL;
    ossr_list_options *opts = NULL;
    ossr_list *list = NULL;
    bool has_page = true;
    unsigned pages = 0;
    char key[1024], etag[128], type[64], sclass[64], small[4];
    size_t i, full = 0;
    uint64_t size = 0;
    int64_t mtime = 0;
    ossr_result rc;

    if (argc != 5) {
        fprintf(stderr, "usage: list BUCKET PREFIX DELIMITER PAGE_SIZE\n");
        return 2;
    }
    if (ossr_config_builder_new(getenv("OSS_ENDPOINT"), &b, err) != OSSR_OK ||
        ossr_config_builder_set_signature_version(b, OSSR_SIGNATURE_V1, err) != OSSR_OK ||
        ossr_client_new(b, &c, err) != OSSR_OK) {
        fprintf(stderr, "no client\n");
        return 1;
    }
    check(ossr_list_options_new(&opts, err) == OSSR_OK, "options");
    check(ossr_list_options_set_prefix(opts, argv[2], err) == OSSR_OK, "prefix");
    check(ossr_list_options_set_delimiter(opts, argv[3], err) == OSSR_OK, "delimiter");
    check(ossr_list_options_set_page_size(opts, (uint32_t)atoi(argv[4]), err) == OSSR_OK,
          "page size");
    check(ossr_list_options_set_page_size(opts, 1001, err) == OSSR_ERR_INVALID_ARGUMENT,
          "a page size above 1000 is refused");
    check(ossr_list_new(c, argv[1], opts, &list, err) == OSSR_OK, "list");
    /* The client may go first: the list keeps what it needs. */
    ossr_client_free(c);
    c = NULL;
    while (list != NULL && pages < 10000) {
        rc = ossr_list_next(list, &has_page, err);
        if (rc != OSSR_OK || !has_page) {
            check(rc == OSSR_OK, "every page fetched");
            break;
        }
        printf("page %u\n", ++pages);
        for (i = 0; i < ossr_list_object_count(list); i++) {
            text_of(ossr_list_object_key, list, i, key, sizeof key);
            text_of(ossr_list_object_etag, list, i, etag, sizeof etag);
            text_of(ossr_list_object_type, list, i, type, sizeof type);
            text_of(ossr_list_object_storage_class, list, i, sclass, sizeof sclass);
            ossr_list_object_size(list, i, &size, &mtime);
            printf("object %s %llu %lld %s %s %s\n", key, (unsigned long long)size,
                   (long long)mtime, etag, type, sclass);
        }
        for (i = 0; i < ossr_list_prefix_count(list); i++) {
            text_of(ossr_list_prefix, list, i, key, sizeof key);
            printf("prefix %s\n", key);
        }
        if (ossr_list_object_count(list) > 0) {
            rc = ossr_list_object_key(list, 0, small, sizeof small, &full);
            check(rc == OSSR_ERR_BUFFER_TOO_SMALL ? full >= sizeof small : full < sizeof small,
                  "a small buffer reports the key's full length");
            check(ossr_list_object_key(list, ossr_list_object_count(list), key, sizeof key,
                                       NULL) == OSSR_ERR_INVALID_ARGUMENT,
                  "an index past the end is refused");
        }
    }
    check(ossr_list_next(list, &has_page, err) == OSSR_OK && !has_page,
          "after the last page there is none");
    check(ossr_list_object_count(list) == 0 && ossr_list_prefix_count(list) == 0,
          "and the current page is empty");
    printf("# pages %u\n", pages);
    ossr_list_free(list);

    /* A missing bucket fails the first page with NOT_FOUND. */
    ossr_client_new(b, &c, err);
    ossr_config_builder_free(b);
    list = NULL;
    check(ossr_list_new(c, "no-such-bucket", NULL, &list, err) == OSSR_OK, "list, no options");
    check(ossr_list_next(list, &has_page, err) == OSSR_ERR_NOT_FOUND, "a missing bucket");
    ossr_list_free(list);
    list = NULL;
    check(ossr_list_new(c, "Bad_Bucket", NULL, &list, err) == OSSR_ERR_INVALID_ARGUMENT &&
              list == NULL,
          "a bad bucket name is refused before any request");
    ossr_list_free(NULL);
    ossr_list_options_free(NULL);
    ossr_list_options_free(opts);
    ossr_client_free(c);
    ossr_error_free(err);
    return failures == 0 ? 0 : 1;
}
