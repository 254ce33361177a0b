/*
 * Puts stdin as an object, streamed: the length need not be known (chunked
 * transfer), memory stays bounded, and the CRC-64 of the bytes sent is checked
 * against the server's.
 *
 *   usage: put BUCKET KEY [CONTENT-TYPE] < data
 */
#include "example.h"

/* The read callback: fill buf from stdin; 0 bytes means the end. */
static int read_stdin(void *userdata, uint8_t *buf, size_t len, size_t *out_n) {
    FILE *in = (FILE *)userdata;
    *out_n = fread(buf, 1, len, in);
    return ferror(in) ? 1 : 0; /* non-zero fails the put with OSSR_ERR_IO */
}

int main(int argc, char **argv) {
    ossr_error *err = ossr_error_new();
    ossr_client *client = NULL;
    ossr_put_options *opts = NULL;
    ossr_put_result result;
    ossr_result rc;
    int status = 1;

    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s BUCKET KEY [CONTENT-TYPE] < data\n", argv[0]);
        ossr_error_free(err);
        return 2;
    }
    client = example_client(err);
    if (client == NULL) {
        goto done;
    }
    rc = ossr_put_options_new(&opts, err);
    if (rc == OSSR_OK && argc == 4) {
        rc = ossr_put_options_add_header(opts, "Content-Type", argv[3], err);
    }
    result.struct_size = sizeof result; /* the library writes the fields that fit */
    if (rc == OSSR_OK) {
        rc = ossr_client_put_stream(client, argv[1], argv[2], read_stdin, stdin, opts, NULL, NULL,
                                    &result, err);
    }
    if (rc != OSSR_OK) {
        example_print_error("put", rc, err);
    } else {
        printf("put %s: etag %s, crc64 %llu\n", argv[2], result.etag,
               (unsigned long long)result.crc64);
        status = 0;
    }
done:
    ossr_put_options_free(opts);
    ossr_client_free(client);
    ossr_error_free(err);
    return status;
}
