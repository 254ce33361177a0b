/* Downloads one object resumably: the README's C program, compiled and run by the tests.
 *
 *   cc -std=c99 quickstart.c $(pkg-config --cflags --libs oss_resume) -o quickstart
 *   OSS_ENDPOINT=https://oss-cn-hangzhou.aliyuncs.com OSS_REGION=cn-hangzhou \
 *   OSS_ACCESS_KEY_ID=... OSS_ACCESS_KEY_SECRET=... ./quickstart BUCKET KEY FILE
 */
#include <stdio.h>
#include <stdlib.h>

#include "oss_resume.h"

int main(int argc, char **argv) {
    const char *endpoint = getenv("OSS_ENDPOINT");
    const char *region = getenv("OSS_REGION");
    ossr_error *err = ossr_error_new();
    ossr_config_builder *b = NULL;
    ossr_client *client = NULL;
    ossr_download_report report;
    ossr_result rc;
    int status = 1;

    if (argc != 4 || endpoint == NULL) {
        fprintf(stderr, "usage: OSS_ENDPOINT=URL [OSS_REGION=R] %s BUCKET KEY FILE\n", argv[0]);
        ossr_error_free(err);
        return 2;
    }
    rc = ossr_config_builder_new(endpoint, &b, err);
    if (rc == OSSR_OK && region != NULL) {
        rc = ossr_config_builder_set_region(b, region, err); /* V4 signatures */
    }
    if (rc == OSSR_OK) {
        rc = ossr_client_new(b, &client, err); /* keys from OSS_ACCESS_KEY_ID/_SECRET */
    }
    report.struct_size = sizeof report; /* the library writes the fields that fit */
    if (rc == OSSR_OK) {
        rc = ossr_client_download(client, argv[1], argv[2], argv[3], NULL /* default options */,
                                  NULL /* no progress */, NULL, &report, err);
    }
    if (rc == OSSR_OK) {
        printf("downloaded %llu bytes to %s, crc64 %llu%s\n", (unsigned long long)report.size,
               argv[3], (unsigned long long)report.crc64,
               report.verified ? " verified" : " (not verified)");
        status = 0;
    } else {
        char msg[512];
        ossr_error_message(err, msg, sizeof msg, NULL);
        fprintf(stderr, "%s: %s (HTTP %u)\n", ossr_result_str(rc), msg,
                ossr_error_http_status(err));
    }
    ossr_client_free(client);
    ossr_config_builder_free(b);
    ossr_error_free(err);
    return status;
}
