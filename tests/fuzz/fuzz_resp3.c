/* libFuzzer target for the RESP3 conversion (resp/resp3.c).
 *
 * The first input byte chooses the shape, the rest is the reply to convert.
 * Its input is meant to be the store's RESP2, but whatever it is given it
 * must not read past it; and when the input is whole RESP, item after item,
 * and the conversion accepts it (returns 0), what it wrote must be whole
 * RESP too, which a second conversion (PLAIN: RESP3 passes unchanged)
 * copies byte for byte. Build and run with `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "resp/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether p[0..n) is RESP items back to back, the last one whole. */
static int whole_resp(const char *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        struct resp_scanner sc;
        resp_scanner_init(&sc);
        size_t used;
        if (resp_scanner_scan(&sc, p + off, n - off, &used) != RESP_OK)
            return 0;
        off += used;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int shape = data[0] % (RESP3_COMMAND_DOCS + 1);
    /* A copy of exactly the input's size, so ASan sees any overread. */
    size_t n = size - 1;
    char *in = malloc(n ? n : 1);
    if (in == NULL)
        return 0;
    memcpy(in, data + 1, n);
    struct resp_buf out = {0}, again = {0};
    if (resp3_convert(shape, in, n, &out) == 0 && whole_resp(in, n)) {
        if (!whole_resp(out.data, out.len))
            abort();
        if (resp3_convert(RESP3_PLAIN, out.data, out.len, &again) != 0 || again.len != out.len ||
            (out.len && memcmp(again.data, out.data, out.len) != 0))
            abort();
    }
    resp_buf_fini(&out);
    resp_buf_fini(&again);
    free(in);
    return 0;
}
