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
