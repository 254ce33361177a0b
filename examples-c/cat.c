/*
 * Streams an object (or a byte range of it) to stdout. Memory stays bounded by one
 * buffer; a dropped connection is resumed inside the stream; the CRC-64 of a whole
 * object is checked on the read that completes it.
 *
 *   usage: cat BUCKET KEY [FIRST LAST]
 */
#include "example.h"

int main(int argc, char **argv) {
    ossr_error *err = ossr_error_new();
    ossr_client *client = NULL;
    ossr_get_options *opts = NULL;
    ossr_get_stream *stream = NULL;
    static uint8_t buf[256 * 1024];
    size_t n = 0;
    ossr_result rc;
    int status = 1;

    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: %s BUCKET KEY [FIRST LAST]\n", argv[0]);
        ossr_error_free(err);
        return 2;
    }
    client = example_client(err);
    if (client == NULL) {
        goto done;
    }
    rc = ossr_get_options_new(&opts, err);
    if (rc == OSSR_OK && argc == 5) {
        rc = ossr_get_options_set_range(opts, strtoull(argv[3], NULL, 10),
                                        strtoull(argv[4], NULL, 10), err);
    }
    if (rc == OSSR_OK) {
        rc = ossr_client_open_get(client, argv[1], argv[2], opts, &stream, err);
    }
    /* Read until the stream says 0 bytes: the end. */
    while (rc == OSSR_OK) {
        rc = ossr_get_stream_read(stream, buf, sizeof buf, &n, err);
        if (rc != OSSR_OK || n == 0) {
            break;
        }
        if (fwrite(buf, 1, n, stdout) != n) {
            perror("stdout");
            goto done;
        }
    }
    if (rc != OSSR_OK) {
        example_print_error("cat", rc, err);
    } else if (fflush(stdout) == 0) {
        fprintf(stderr, "%llu bytes, crc64 %llu, %u resumes\n",
                (unsigned long long)ossr_get_stream_bytes_read(stream),
                (unsigned long long)ossr_get_stream_client_crc(stream),
                (unsigned)ossr_get_stream_resumes(stream));
        status = 0;
    }
done:
    ossr_get_stream_free(stream);
    ossr_get_options_free(opts);
    ossr_client_free(client);
    ossr_error_free(err);
    return status;
}
