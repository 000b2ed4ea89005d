/* RESP3 from RESP2 (resp/resp3.c): the shapes a request's reply takes, and
 * the conversion of each. The expected bytes are Redis 7.0's own RESP3
 * replies to the same requests. */
#include <criterion/criterion.h>
#include <string.h>

#include "resp/resp.h"
#include "tests/support/support.h"

static int shape(const char *line)
{
    char copy[256], *argv[16];
    size_t len[16];
    snprintf(copy, sizeof(copy), "%s", line);
    int argc = support_split(copy, argv, len, 16);
    return resp3_shape_of(argc, argv, len);
}

static void expect(int shp, const char *in, const char *want)
{
    struct resp_buf out = {0};
    cr_assert_eq(resp3_convert(shp, in, strlen(in), &out), 0, "%s", in);
    cr_assert(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0,
              "in %s\nwant %s\ngot  %.*s", in, want, (int)out.len, out.data);
    resp_buf_fini(&out);
}

Test(resp3, shapes_follow_the_arguments)
{
    cr_assert_eq(shape("GET k"), RESP3_PLAIN);
    cr_assert_eq(shape("hgetall h"), RESP3_MAP);
    cr_assert_eq(shape("SPOP s"), RESP3_PLAIN);
    cr_assert_eq(shape("SPOP s 2"), RESP3_SET);
    cr_assert_eq(shape("ZRANGE z 0 -1"), RESP3_PLAIN);
    cr_assert_eq(shape("ZRANGE z 0 -1 withscores"), RESP3_SCORED);
    /* A key named like the option is a key, not the option. */
    cr_assert_eq(shape("ZUNION 2 a withscores"), RESP3_PLAIN);
    cr_assert_eq(shape("ZUNION 2 a withscores WITHSCORES"), RESP3_SCORED);
    cr_assert_eq(shape("ZPOPMIN z"), RESP3_POP);
    cr_assert_eq(shape("ZPOPMIN z 1"), RESP3_SCORED);
    cr_assert_eq(shape("HRANDFIELD h 2 WITHVALUES"), RESP3_PAIRS);
    cr_assert_eq(shape("LCS a b IDX"), RESP3_MAP);
    cr_assert_eq(shape("CONFIG GET port"), RESP3_MAP);
    cr_assert_eq(shape("CONFIG SET port 1"), RESP3_PLAIN);
    cr_assert_eq(shape("CLIENT LIST"), RESP3_VERBATIM);
    cr_assert_eq(shape("COMMAND"), RESP3_COMMAND_INFO);
    cr_assert_eq(shape("COMMAND DOCS get"), RESP3_COMMAND_DOCS);
    cr_assert_eq(shape("COMMAND COUNT"), RESP3_PLAIN);
    cr_assert_eq(shape("GEOPOS g a"), RESP3_GEOPOS);
    cr_assert_eq(shape("GEOSEARCH g FROMMEMBER withcoord BYRADIUS 1 km"), RESP3_GEO_ITEMS);
    cr_assert_eq(shape("GEODIST g a b"), RESP3_PLAIN);
}

Test(resp3, nulls_become_underscore_at_any_depth)
{
    expect(RESP3_PLAIN, "$-1\r\n", "_\r\n");
    expect(RESP3_PLAIN, "*-1\r\n", "_\r\n");
    expect(RESP3_PLAIN, "*3\r\n$1\r\na\r\n$-1\r\n*1\r\n$-1\r\n",
           "*3\r\n$1\r\na\r\n_\r\n*1\r\n_\r\n");
    /* Bulk payloads are skipped by length, whatever they hold. */
    expect(RESP3_PLAIN, "$5\r\n$-1\r\n\r\n", "$5\r\n$-1\r\n\r\n");
    /* Already RESP3 (an EXEC's converted replies): unchanged. */
    expect(RESP3_PLAIN, "*2\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n,1.5\r\n",
           "*2\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n,1.5\r\n");
}

Test(resp3, aggregates_change_type)
{
    expect(RESP3_MAP, "*4\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\ng\r\n$1\r\nw\r\n",
           "%2\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\ng\r\n$1\r\nw\r\n");
    expect(RESP3_MAP, "*0\r\n", "%0\r\n");
    /* An odd count is no map or list of pairs: it stays an array. */
    expect(RESP3_MAP, "*1\r\n$1\r\nf\r\n", "*1\r\n$1\r\nf\r\n");
    expect(RESP3_SCORED, "*1\r\n$1\r\nf\r\n", "*1\r\n$1\r\nf\r\n");
    expect(RESP3_COMMAND_DOCS, "*1\r\n$1\r\nf\r\n", "*1\r\n$1\r\nf\r\n");
    expect(RESP3_SET, "*2\r\n$1\r\ny\r\n$1\r\nx\r\n", "~2\r\n$1\r\ny\r\n$1\r\nx\r\n");
    expect(RESP3_DOUBLE, "$3\r\n2.5\r\n", ",2.5\r\n");
    expect(RESP3_DOUBLE, "$-1\r\n", "_\r\n");
    expect(RESP3_DOUBLE, ":2\r\n", ":2\r\n"); /* ZADD without INCR */
    expect(RESP3_DOUBLES, "*2\r\n$3\r\ninf\r\n$-1\r\n", "*2\r\n,inf\r\n_\r\n");
    expect(RESP3_SCORED, "*4\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\na\r\n$1\r\n3\r\n",
           "*2\r\n*2\r\n$1\r\nb\r\n,2.5\r\n*2\r\n$1\r\na\r\n,3\r\n");
    expect(RESP3_POP, "*2\r\n$1\r\nb\r\n$3\r\n2.5\r\n", "*2\r\n$1\r\nb\r\n,2.5\r\n");
    expect(RESP3_POP, "*0\r\n", "*0\r\n");
    expect(RESP3_PAIRS, "*4\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\ng\r\n$1\r\nw\r\n",
           "*2\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$1\r\ng\r\n$1\r\nw\r\n");
    expect(RESP3_KEY_SCORED, "*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n",
           "*3\r\n$1\r\nz\r\n$1\r\na\r\n,1\r\n");
    expect(RESP3_KEY_SCORED, "*-1\r\n", "_\r\n");
    expect(RESP3_KEY_SCOREDS, "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n",
           "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nb\r\n,2\r\n");
    expect(RESP3_VERBATIM, "$4\r\na\r\nb\r\n", "=8\r\ntxt:a\r\nb\r\n");
    /* Coordinates are doubles; a distance stays a bulk, a hash an integer. */
    expect(RESP3_GEOPOS, "*2\r\n*2\r\n$3\r\n1.5\r\n$2\r\n-2\r\n*-1\r\n",
           "*2\r\n*2\r\n,1.5\r\n,-2\r\n_\r\n");
    expect(RESP3_GEO_ITEMS,
           "*2\r\n*4\r\n$1\r\na\r\n$6\r\n1.0000\r\n:7\r\n*2\r\n$3\r\n1.5\r\n$1\r\n2\r\n"
           "$1\r\nb\r\n",
           "*2\r\n*4\r\n$1\r\na\r\n$6\r\n1.0000\r\n:7\r\n*2\r\n,1.5\r\n,2\r\n$1\r\nb\r\n");
    expect(RESP3_GEO_ITEMS, "*1\r\n*2\r\n$1\r\na\r\n$6\r\n1.0000\r\n",
           "*1\r\n*2\r\n$1\r\na\r\n$6\r\n1.0000\r\n");
    expect(RESP3_GEO_ITEMS, ":3\r\n", ":3\r\n"); /* STORE */
}

Test(resp3, every_reply_of_a_request_is_converted_and_errors_pass)
{
    expect(RESP3_PUSH,
           "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
           ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n");
    expect(RESP3_PUSH, "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n",
           ">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n");
    expect(RESP3_MAP, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
           "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
}

Test(resp3, input_that_is_not_whole_resp_is_refused)
{
    struct resp_buf out = {0};
    cr_assert_eq(resp3_convert(RESP3_MAP, "*2\r\n$1\r\na\r\n", 12, &out), -1);
    cr_assert_eq(resp3_convert(RESP3_PLAIN, "$5\r\nab", 6, &out), -1);
    resp_buf_fini(&out);
}
