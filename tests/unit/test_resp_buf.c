/* The RESP2 encoder. */
#include <criterion/criterion.h>
#include <string.h>

#include "resp/resp.h"

/* want is a string literal, so sizeof covers embedded NULs. */
#define expect(b, want) expect_bytes((b), (want), sizeof(want) - 1)

static void expect_bytes(struct resp_buf *b, const char *want, size_t n)
{
    cr_assert_eq(b->len, n, "length %zu, want %zu (%.*s)", b->len, n, (int)b->len, b->data);
    cr_assert(memcmp(b->data, want, n) == 0, "got %.*s", (int)b->len, b->data);
    resp_buf_reset(b);
}

Test(resp_buf, encodes_every_resp2_type)
{
    struct resp_buf b;
    resp_buf_init(&b);
    resp_add_simple(&b, "OK");
    expect(&b, "+OK\r\n");
    resp_add_error(&b, "ERR bad\nthing");
    expect(&b, "-ERR bad thing\r\n");
    resp_add_errorf(&b, "ERR unknown command '%s'", "foo");
    expect(&b, "-ERR unknown command 'foo'\r\n");
    resp_add_int(&b, -9223372036854775807LL - 1);
    expect(&b, ":-9223372036854775808\r\n");
    resp_add_int(&b, 0);
    expect(&b, ":0\r\n");
    resp_add_bulk(&b, "a\0b", 3);
    expect(&b, "$3\r\na\0b\r\n");
    resp_add_bulk(&b, "", 0);
    expect(&b, "$0\r\n\r\n");
    resp_add_null(&b);
    expect(&b, "$-1\r\n");
    resp_add_null_array(&b);
    expect(&b, "*-1\r\n");
    resp_add_array(&b, 2);
    expect(&b, "*2\r\n");
    resp_add_bulk_ll(&b, 42);
    expect(&b, "$2\r\n42\r\n");
    resp_add_bulk_double(&b, 1.5);
    expect(&b, "$3\r\n1.5\r\n");
    resp_add_bulk_double(&b, -1.0 / 0.0);
    expect(&b, "$4\r\n-inf\r\n");
    resp_buf_fini(&b);
}

Test(resp_buf, command_encoding_is_what_clients_send)
{
    struct resp_buf b;
    resp_buf_init(&b);
    const char *argv[] = {"SET", "k", "v"};
    size_t len[] = {3, 1, 1};
    resp_add_command(&b, 3, argv, len);
    expect(&b, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    resp_buf_fini(&b);
}

Test(resp_buf, consume_keeps_the_tail)
{
    struct resp_buf b = {0};
    resp_buf_append(&b, "hello world", 11);
    resp_buf_consume(&b, 6);
    expect(&b, "world");
    resp_buf_fini(&b);
}

/* What the encoder writes, the request reader reads back unchanged, for
 * arguments of every byte value and size class. */
Test(resp_buf, encoded_commands_read_back_identically)
{
    static char big[200000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 31);
    const char *argv[] = {"SET", "", "\r\n\0*$", big, "x"};
    size_t len[] = {3, 0, 5, sizeof(big), 1};
    struct resp_buf b;
    resp_buf_init(&b);
    for (int argc = 1; argc <= 5; argc++)
        resp_add_command(&b, argc, argv, len);
    struct resp_reader *r = resp_reader_new(0);
    cr_assert_eq(resp_reader_feed(r, b.data, b.len), RESP_OK);
    size_t consumed = 0;
    for (int argc = 1; argc <= 5; argc++) {
        struct resp_request req;
        cr_assert_eq(resp_reader_next(r, &req), RESP_OK, "request %d", argc);
        cr_assert_eq(req.argc, argc);
        for (int i = 0; i < argc; i++) {
            cr_assert_eq(req.argvlen[i], len[i], "arg %d of %d", i, argc);
            cr_assert(memcmp(req.argv[i], argv[i], len[i]) == 0);
        }
        consumed += req.wire_len;
    }
    struct resp_request req;
    cr_assert_eq(resp_reader_next(r, &req), RESP_AGAIN);
    cr_assert_eq(consumed, b.len);
    resp_reader_free(r);
    resp_buf_fini(&b);
}
