/* Geo (Redis geo.c, geohash.c, geohash_helper.c): GEOADD, GEOPOS, GEODIST,
 * GEOHASH, GEORADIUS[BYMEMBER][_RO], GEOSEARCH and GEOSEARCHSTORE.
 *
 * A geo set is a sorted set whose scores are 52-bit geohashes: longitude
 * and latitude each cut into 2^26 steps (latitude within +-85.05112878,
 * Web Mercator's limits) and their bits interleaved. A search works as
 * Redis's does, and in its order, because its unsorted replies and COUNT
 * ANY show that order: pick the geohash step whose cells cover the search
 * radius, then walk the score range of the centre's cell and of its eight
 * neighbours (north, south, east, west, north-east, north-west, south-east,
 * south-west), keeping the members within the shape. Distances are the
 * haversine on Redis's Earth radius, with its floating-point steps, so the
 * same points fall inside and the same digits come out. Sorting by
 * distance uses the C library's qsort (a stable merge sort in glibc, as
 * Redis gets it) and, when COUNT cuts the result, Redis's partial
 * quicksort (geo_pqsort), whose order of equal distances is its own. */
#include "store/store_int.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GEO_STEP_MAX 26
#define GEO_LAT_MIN -85.05112878
#define GEO_LAT_MAX 85.05112878
#define GEO_LONG_MIN -180
#define GEO_LONG_MAX 180
#define GEO_EARTH_RADIUS 6372797.560856 /* meters */
#define GEO_MERCATOR_MAX 20037726.37
#define GEO_D_R (M_PI / 180.0)

/* ------------------------------------------------------------ geohash */

struct gh_bits {
    uint64_t bits;
    uint8_t step;
};

struct gh_range {
    double min, max;
};

struct gh_area {
    struct gh_range lon, lat;
};

static int gh_is_zero(struct gh_bits h)
{
    return h.bits == 0 && h.step == 0;
}

/* Spreads the low 32 bits of v over the even bits of the result. */
static uint64_t gh_spread(uint64_t v)
{
    v = (v | (v << 16)) & 0x0000FFFF0000FFFFULL;
    v = (v | (v << 8)) & 0x00FF00FF00FF00FFULL;
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0FULL;
    v = (v | (v << 2)) & 0x3333333333333333ULL;
    v = (v | (v << 1)) & 0x5555555555555555ULL;
    return v;
}

/* The even bits of v, packed into the low 32. */
static uint64_t gh_squash(uint64_t v)
{
    v &= 0x5555555555555555ULL;
    v = (v | (v >> 1)) & 0x3333333333333333ULL;
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0FULL;
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FFULL;
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFFULL;
    v = (v | (v >> 16)) & 0x00000000FFFFFFFFULL;
    return v;
}

/* Latitude steps on the even bits, longitude steps on the odd ones. */
static int gh_encode(struct gh_range lon_r, struct gh_range lat_r, double lon, double lat,
                     uint8_t step, struct gh_bits *h)
{
    if (step > 32 || step == 0 || lon > GEO_LONG_MAX || lon < GEO_LONG_MIN || lat > GEO_LAT_MAX ||
        lat < GEO_LAT_MIN)
        return 0;
    h->bits = 0;
    h->step = step;
    if (lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max)
        return 0;
    double lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min);
    double lon_off = (lon - lon_r.min) / (lon_r.max - lon_r.min);
    lat_off *= (double)(1ULL << step);
    lon_off *= (double)(1ULL << step);
    /* Redis passes the offsets as uint32_t: truncated. */
    h->bits = gh_spread((uint32_t)lat_off) | (gh_spread((uint32_t)lon_off) << 1);
    return 1;
}

static const struct gh_range GH_LON = {GEO_LONG_MIN, GEO_LONG_MAX};
static const struct gh_range GH_LAT = {GEO_LAT_MIN, GEO_LAT_MAX};

static int gh_decode(struct gh_range lon_r, struct gh_range lat_r, struct gh_bits h,
                     struct gh_area *a)
{
    if (gh_is_zero(h))
        return 0;
    uint32_t ilat = (uint32_t)gh_squash(h.bits);
    uint32_t ilon = (uint32_t)gh_squash(h.bits >> 1);
    double lat_scale = lat_r.max - lat_r.min, lon_scale = lon_r.max - lon_r.min;
    a->lat.min = lat_r.min + (ilat * 1.0 / (double)(1ULL << h.step)) * lat_scale;
    a->lat.max = lat_r.min + ((ilat + 1) * 1.0 / (double)(1ULL << h.step)) * lat_scale;
    a->lon.min = lon_r.min + (ilon * 1.0 / (double)(1ULL << h.step)) * lon_scale;
    a->lon.max = lon_r.min + ((ilon + 1) * 1.0 / (double)(1ULL << h.step)) * lon_scale;
    return 1;
}

/* What C's conversion of a score to uint64_t gives where Redis runs (gcc,
 * x86-64): exact for [0, 2^64), a signed conversion below 0, and the
 * processor's answer for what fits neither. Scores of a sorted set that is
 * not a geo set (ZADD -5, inf) reach here too. */
static uint64_t geo_score_bits(double d)
{
    if (isnan(d))
        return 1ULL << 63;
    if (d < 9223372036854775808.0) {
        if (d > -9223372036854775809.0)
            return (uint64_t)(int64_t)d;
        return 1ULL << 63;
    }
    if (d < 18446744073709551616.0)
        return (uint64_t)(d - 9223372036854775808.0) ^ (1ULL << 63);
    return 0;
}

/* The centre of the 26-step cell a score names: xy[0] longitude, xy[1]
 * latitude, clamped to the map. */
static void geo_decode_score(double score, double *xy)
{
    struct gh_bits h = {geo_score_bits(score), GEO_STEP_MAX};
    struct gh_area a;
    gh_decode(GH_LON, GH_LAT, h, &a);
    xy[0] = (a.lon.min + a.lon.max) / 2;
    if (xy[0] > GEO_LONG_MAX)
        xy[0] = GEO_LONG_MAX;
    if (xy[0] < GEO_LONG_MIN)
        xy[0] = GEO_LONG_MIN;
    xy[1] = (a.lat.min + a.lat.max) / 2;
    if (xy[1] > GEO_LAT_MAX)
        xy[1] = GEO_LAT_MAX;
    if (xy[1] < GEO_LAT_MIN)
        xy[1] = GEO_LAT_MIN;
}

static uint64_t gh_align52(struct gh_bits h)
{
    return h.bits << (52 - h.step * 2);
}

/* Moves h one cell along the axis whose bits are mask: the odd bits
 * (longitude) east when d > 0, else west; the even bits (latitude) north
 * when d > 0, else south. Setting the other axis's bits first lets the
 * carry or borrow run through them. */
static void gh_move(struct gh_bits *h, uint64_t mask, int d)
{
    uint64_t v = h->bits & mask, other = h->bits & ~mask;
    uint64_t zz = ~mask >> (64 - h->step * 2);
    if (d > 0) {
        v = v + (zz + 1);
    } else {
        v = v | zz;
        v = v - (zz + 1);
    }
    v &= mask >> (64 - h->step * 2);
    h->bits = v | other;
}

#define GH_LON_BITS 0xaaaaaaaaaaaaaaaaULL
#define GH_LAT_BITS 0x5555555555555555ULL

/* The nine cells of a search, in the order Redis walks them. */
enum { GH_SELF, GH_N, GH_S, GH_E, GH_W, GH_NE, GH_NW, GH_SE, GH_SW, GH_CELLS };

static void gh_neighbours(struct gh_bits h, struct gh_bits *cells)
{
    static const int8_t dx[GH_CELLS] = {0, 0, 0, 1, -1, 1, -1, 1, -1};
    static const int8_t dy[GH_CELLS] = {0, 1, -1, 0, 0, 1, 1, -1, -1};
    for (int i = 0; i < GH_CELLS; i++) {
        cells[i] = h;
        if (dx[i])
            gh_move(&cells[i], GH_LON_BITS, dx[i]);
        if (dy[i])
            gh_move(&cells[i], GH_LAT_BITS, dy[i]);
    }
}

/* ------------------------------------------------------------ distances */

static double deg_rad(double ang)
{
    return ang * GEO_D_R;
}

static double rad_deg(double ang)
{
    return ang / GEO_D_R;
}

/* The haversine great-circle distance in meters. */
static double geo_distance(double lon1d, double lat1d, double lon2d, double lat2d)
{
    double lat1r = deg_rad(lat1d), lon1r = deg_rad(lon1d);
    double lat2r = deg_rad(lat2d), lon2r = deg_rad(lon2d);
    double u = sin((lat2r - lat1r) / 2), v = sin((lon2r - lon1r) / 2);
    return 2.0 * GEO_EARTH_RADIUS * asin(sqrt(u * u + cos(lat1r) * cos(lat2r) * v * v));
}

/* A search shape: a circle of radius, or a width x height box, around
 * xy, in the unit whose meters are conversion. */
struct geo_shape {
    int box;
    double xy[2];
    double conversion;
    double radius, width, height;
};

/* Whether the point xy is in the shape, with its distance from the
 * centre in meters. */
static int geo_within(const struct geo_shape *s, const double *xy, double *dist)
{
    if (!s->box) {
        *dist = geo_distance(s->xy[0], s->xy[1], xy[0], xy[1]);
        return !(*dist > s->radius * s->conversion);
    }
    double lon_d = geo_distance(xy[0], xy[1], s->xy[0], xy[1]);
    double lat_d = geo_distance(xy[0], xy[1], xy[0], s->xy[1]);
    if (lon_d > s->width * s->conversion / 2 || lat_d > s->height * s->conversion / 2)
        return 0;
    *dist = geo_distance(s->xy[0], s->xy[1], xy[0], xy[1]);
    return 1;
}

/* The geohash step whose cells are about the size of the search. */
static int geo_estimate_step(double range_meters, double lat)
{
    if (range_meters == 0)
        return 26;
    int step = 1;
    while (range_meters < GEO_MERCATOR_MAX) {
        range_meters *= 2;
        step++;
    }
    step -= 2; /* the range inside most of the base cases */
    /* Meridians draw together toward the poles. */
    if (lat > 66 || lat < -66) {
        step--;
        if (lat > 80 || lat < -80)
            step--;
    }
    if (step < 1)
        step = 1;
    if (step > 26)
        step = 26;
    return step;
}

/* The nine cells to walk for shape s (zeroed where Redis leaves one out). */
static void geo_search_cells(const struct geo_shape *s, struct gh_bits *cells)
{
    double lon = s->xy[0], lat = s->xy[1];
    double height = s->conversion * (s->box ? s->height / 2 : s->radius);
    double width = s->conversion * (s->box ? s->width / 2 : s->radius);
    /* The bounding box: wider in longitude on the side nearer a pole. */
    double lat_delta = rad_deg(height / GEO_EARTH_RADIUS);
    double lon_delta_top = rad_deg(width / GEO_EARTH_RADIUS / cos(deg_rad(lat + lat_delta)));
    double lon_delta_bottom = rad_deg(width / GEO_EARTH_RADIUS / cos(deg_rad(lat - lat_delta)));
    int south = lat < 0;
    double min_lon = south ? lon - lon_delta_bottom : lon - lon_delta_top;
    double max_lon = south ? lon + lon_delta_bottom : lon + lon_delta_top;
    double min_lat = lat - lat_delta, max_lat = lat + lat_delta;

    double radius = s->box
                        ? sqrt((s->width / 2) * (s->width / 2) + (s->height / 2) * (s->height / 2))
                        : s->radius;
    radius *= s->conversion;
    int step = geo_estimate_step(radius, lat);
    struct gh_bits h;
    struct gh_area area, n, so, e, w;
    gh_encode(GH_LON, GH_LAT, lon, lat, (uint8_t)step, &h);
    gh_neighbours(h, cells);
    gh_decode(GH_LON, GH_LAT, h, &area);
    /* A step that leaves part of the bounding box outside the nine cells
     * is one too fine. */
    gh_decode(GH_LON, GH_LAT, cells[GH_N], &n);
    gh_decode(GH_LON, GH_LAT, cells[GH_S], &so);
    gh_decode(GH_LON, GH_LAT, cells[GH_E], &e);
    gh_decode(GH_LON, GH_LAT, cells[GH_W], &w);
    int coarser =
        n.lat.max < max_lat || so.lat.min > min_lat || e.lon.max < max_lon || w.lon.min > min_lon;
    if (step > 1 && coarser) {
        step--;
        gh_encode(GH_LON, GH_LAT, lon, lat, (uint8_t)step, &h);
        gh_neighbours(h, cells);
        gh_decode(GH_LON, GH_LAT, h, &area);
    }
    /* Cells wholly beyond the bounding box are left out. */
    if (step >= 2) {
        static const struct gh_bits zero = {0, 0};
        if (area.lat.min < min_lat)
            cells[GH_S] = cells[GH_SW] = cells[GH_SE] = zero;
        if (area.lat.max > max_lat)
            cells[GH_N] = cells[GH_NE] = cells[GH_NW] = zero;
        if (area.lon.min < min_lon)
            cells[GH_W] = cells[GH_SW] = cells[GH_NW] = zero;
        if (area.lon.max > max_lon)
            cells[GH_E] = cells[GH_SE] = cells[GH_NE] = zero;
    }
}

/* ------------------------------------------------------------ the points */

struct geo_point {
    double lon, lat, dist, score;
    size_t off, len; /* the member, in the arena */
};

struct geo_result {
    struct geo_point *p;
    long n, cap;
    struct resp_buf arena;
    const struct geo_shape *shape;
    long limit;   /* COUNT n ANY: stop at n; 0 for all */
    uint64_t max; /* the current cell's scores end below this */
};

static int geo_collect_cb(void *arg, const unsigned char *m, size_t ml, double score)
{
    struct geo_result *g = arg;
    if (!(score < (double)g->max))
        return 1;
    double xy[2], dist = 0;
    geo_decode_score(score, xy);
    if (geo_within(g->shape, xy, &dist)) {
        if (g->n == g->cap) {
            g->cap = g->cap ? g->cap * 2 : 16;
            g->p = realloc(g->p, sizeof(*g->p) * (size_t)g->cap);
            STORE_ASSERT(g->p != NULL);
        }
        g->p[g->n++] = (struct geo_point){xy[0], xy[1], dist, score, g->arena.len, ml};
        resp_buf_append(&g->arena, m, ml);
    }
    return g->limit && g->n >= g->limit;
}

/* The members of key in shape s, walking the nine cells in Redis's order;
 * a cell that repeats the one walked before it is skipped. */
static void geo_search(struct store_ctx *c, const char *key, size_t klen, const struct geo_shape *s,
                       struct geo_result *g)
{
    struct gh_bits cells[GH_CELLS];
    geo_search_cells(s, cells);
    int last = 0;
    for (int i = 0; i < GH_CELLS; i++) {
        if (gh_is_zero(cells[i]))
            continue;
        if (last && cells[i].bits == cells[last].bits && cells[i].step == cells[last].step)
            continue;
        if (g->limit && g->n >= g->limit)
            break;
        struct gh_bits next = cells[i];
        next.bits++;
        g->max = gh_align52(next);
        store_zset_walk_scores(c, key, klen, (double)gh_align52(cells[i]), geo_collect_cb, g);
        last = i;
    }
}

/* ------------------------------------------------------------ sorting */

typedef int (*geo_cmp_fn)(const struct geo_point *, const struct geo_point *);

static int geo_cmp_asc(const struct geo_point *a, const struct geo_point *b)
{
    return a->dist > b->dist ? 1 : a->dist == b->dist ? 0 : -1;
}

static int geo_cmp_desc(const struct geo_point *a, const struct geo_point *b)
{
    return -geo_cmp_asc(a, b);
}

static int geo_qsort_asc(const void *a, const void *b)
{
    return geo_cmp_asc(a, b);
}

static int geo_qsort_desc(const void *a, const void *b)
{
    return geo_cmp_desc(a, b);
}

static void geo_swap(struct geo_point *a, struct geo_point *b)
{
    struct geo_point t = *a;
    *a = *b;
    *b = t;
}

static void geo_vecswap(struct geo_point *a, struct geo_point *b, long n)
{
    for (long i = 0; i < n; i++)
        geo_swap(a + i, b + i);
}

static struct geo_point *geo_med3(struct geo_point *a, struct geo_point *b, struct geo_point *c,
                                  geo_cmp_fn cmp)
{
    return cmp(a, b) < 0 ? (cmp(b, c) < 0 ? b : (cmp(a, c) < 0 ? c : a))
                         : (cmp(b, c) > 0 ? b : (cmp(a, c) < 0 ? a : c));
}

static void geo_insertion_sort(struct geo_point *a, long n, geo_cmp_fn cmp)
{
    for (long m = 1; m < n; m++)
        for (long l = m; l > 0 && cmp(&a[l - 1], &a[l]) > 0; l--)
            geo_swap(&a[l], &a[l - 1]);
}

/* Redis's pqsort: Bentley and McIlroy's quicksort that sorts only the
 * parts overlapping [lo, hi] (indexes into the whole array, base). Its
 * order among equal elements is its own, and shows in replies. */
static void geo_pqsort(struct geo_point *base, struct geo_point *a, long n, geo_cmp_fn cmp, long lo,
                       long hi)
{
    for (;;) {
        if (n < 7) {
            geo_insertion_sort(a, n, cmp);
            return;
        }
        struct geo_point *pm = a + n / 2;
        if (n > 7) {
            struct geo_point *pl = a, *pn = a + n - 1;
            if (n > 40) {
                long d = n / 8;
                pl = geo_med3(pl, pl + d, pl + 2 * d, cmp);
                pm = geo_med3(pm - d, pm, pm + d, cmp);
                pn = geo_med3(pn - 2 * d, pn - d, pn, cmp);
            }
            pm = geo_med3(pl, pm, pn, cmp);
        }
        geo_swap(a, pm);
        struct geo_point *pa = a + 1, *pb = a + 1, *pc = a + n - 1, *pd = a + n - 1;
        int r;
        for (;;) {
            while (pb <= pc && (r = cmp(pb, a)) <= 0) {
                if (r == 0) {
                    geo_swap(pa, pb);
                    pa++;
                }
                pb++;
            }
            while (pb <= pc && (r = cmp(pc, a)) >= 0) {
                if (r == 0) {
                    geo_swap(pc, pd);
                    pd--;
                }
                pc--;
            }
            if (pb > pc)
                break;
            geo_swap(pb, pc);
            pb++;
            pc--;
        }
        /* Redis 7.0's copy has no switch to insertion sort after a pass
         * without swaps (the one that makes BSD's qsort quadratic). */
        struct geo_point *pn = a + n;
        long k = pa - a < pb - pa ? pa - a : pb - pa;
        geo_vecswap(a, pb - k, k);
        k = pd - pc < pn - pd - 1 ? pd - pc : pn - pd - 1;
        geo_vecswap(pb, pn - k, k);
        /* The left part [a, a + (pb - pa)), then the right one. */
        long left = pb - pa, right = pd - pc;
        if (left > 1) {
            long l = a - base, r2 = l + left - 1;
            if (!((lo < l && hi < l) || (lo > r2 && hi > r2)))
                geo_pqsort(base, a, left, cmp, lo, hi);
        }
        if (right <= 1)
            return;
        a = pn - right;
        n = right;
        long l = a - base, r2 = l + right - 1;
        if ((lo < l && hi < l) || (lo > r2 && hi > r2))
            return;
    }
}

/* ------------------------------------------------------------ arguments */

/* longitude, latitude at argv[0..1], within the map; -1 after the reply. */
static int geo_lonlat(struct store_ctx *c, char **argv, size_t *len, double *xy)
{
    for (int i = 0; i < 2; i++)
        if (!store_string2d(argv[i], len[i], &xy[i])) {
            resp_add_error(c->out, STORE_ENOTFLOAT);
            return -1;
        }
    if (xy[0] < GEO_LONG_MIN || xy[0] > GEO_LONG_MAX || xy[1] < GEO_LAT_MIN ||
        xy[1] > GEO_LAT_MAX) {
        resp_add_errorf(c->out, "ERR invalid longitude,latitude pair %f,%f", xy[0], xy[1]);
        return -1;
    }
    return 0;
}

/* A unit's meters; -1 after the reply. */
static double geo_unit(struct store_ctx *c, const char *u, size_t len)
{
    if (store_strcasecmp_arg(u, len, "m"))
        return 1;
    if (store_strcasecmp_arg(u, len, "km"))
        return 1000;
    if (store_strcasecmp_arg(u, len, "ft"))
        return 0.3048;
    if (store_strcasecmp_arg(u, len, "mi"))
        return 1609.34;
    resp_add_error(c->out, "ERR unsupported unit provided. please use M, KM, FT, MI");
    return -1;
}

static int geo_number(struct store_ctx *c, const char *s, size_t len, const char *err, double *v)
{
    if (store_string2d(s, len, v))
        return 0;
    resp_add_error(c->out, err);
    return -1;
}

/* radius unit at argv[0..1]; -1 after the reply. */
static int geo_radius(struct store_ctx *c, char **argv, size_t *len, struct geo_shape *s)
{
    double r;
    if (geo_number(c, argv[0], len[0], "ERR need numeric radius", &r) != 0)
        return -1;
    if (r < 0) {
        resp_add_error(c->out, "ERR radius cannot be negative");
        return -1;
    }
    s->radius = r;
    double conv = geo_unit(c, argv[1], len[1]);
    if (conv < 0)
        return -1;
    s->conversion = conv;
    s->box = 0;
    return 0;
}

/* width height unit at argv[0..2]; -1 after the reply. */
static int geo_box(struct store_ctx *c, char **argv, size_t *len, struct geo_shape *s)
{
    double w, h;
    if (geo_number(c, argv[0], len[0], "ERR need numeric width", &w) != 0 ||
        geo_number(c, argv[1], len[1], "ERR need numeric height", &h) != 0)
        return -1;
    if (h < 0 || w < 0) {
        resp_add_error(c->out, "ERR height or width cannot be negative");
        return -1;
    }
    s->width = w;
    s->height = h;
    double conv = geo_unit(c, argv[2], len[2]);
    if (conv < 0)
        return -1;
    s->conversion = conv;
    s->box = 1;
    return 0;
}

/* Redis's addReplyDoubleDistance. */
static void geo_add_distance(struct resp_buf *out, double d)
{
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "%.4f", d);
    resp_add_bulk(out, buf, (size_t)n);
}

/* Redis's addReplyHumanLongDouble (a RESP3 double is made of the same
 * digits at the edge). */
static void geo_add_coord(struct resp_buf *out, double d)
{
    char buf[5 * 1024];
    int n = store_ld2string(buf, sizeof(buf), (long double)d);
    resp_add_bulk(out, buf, (size_t)n);
}

/* ------------------------------------------------------------ commands */

STORE_DECL(geoadd)
{
    int nx = 0, xx = 0, first = 2;
    for (; first < argc; first++) {
        if (store_strcasecmp_arg(argv[first], len[first], "nx"))
            nx = 1;
        else if (store_strcasecmp_arg(argv[first], len[first], "xx"))
            xx = 1;
        else if (!store_strcasecmp_arg(argv[first], len[first], "ch"))
            break; /* CH is ZADD's */
    }
    if ((argc - first) % 3 || (xx && nx)) {
        resp_add_error(c->out, STORE_ESYNTAX);
        return;
    }
    /* As Redis: ZADD key [options] score member ..., the scores the
     * points' geohashes. */
    int n = (argc - first) / 3, zargc = first + 2 * n;
    char **zargv = malloc(sizeof(*zargv) * (size_t)zargc);
    size_t *zlen = malloc(sizeof(*zlen) * (size_t)zargc);
    char(*scores)[24] = malloc(sizeof(*scores) * (size_t)(n ? n : 1));
    STORE_ASSERT(zargv && zlen && scores);
    zargv[0] = "zadd";
    zlen[0] = 4;
    for (int i = 1; i < first; i++) {
        zargv[i] = argv[i];
        zlen[i] = len[i];
    }
    for (int i = 0; i < n; i++) {
        double xy[2];
        if (geo_lonlat(c, argv + first + 3 * i, len + first + 3 * i, xy) != 0)
            goto done;
        struct gh_bits h;
        gh_encode(GH_LON, GH_LAT, xy[0], xy[1], GEO_STEP_MAX, &h);
        int k = store_ll2string(scores[i], sizeof(scores[i]), (long long)gh_align52(h));
        zargv[first + 2 * i] = scores[i];
        zlen[first + 2 * i] = (size_t)k;
        zargv[first + 2 * i + 1] = argv[first + 3 * i + 2];
        zlen[first + 2 * i + 1] = len[first + 3 * i + 2];
    }
    store_cmd_zadd(c, zargc, zargv, zlen);
done:
    free(zargv);
    free(zlen);
    free(scores);
}

/* GEOPOS and GEOHASH: for each member at argv[2..] of the geo set at
 * argv[1], emit with its position, or a null (an array's when null_array)
 * when the key or the member is missing. */
typedef void (*geo_member_fn)(struct resp_buf *out, const double *xy);

static void geo_each_member(struct store_ctx *c, int argc, char **argv, size_t *len, int null_array,
                            geo_member_fn emit)
{
    struct store_rec r;
    int found = store_db_lookup_type(c, argv[1], len[1], STORE_T_ZSET, &r);
    if (found < 0)
        return;
    resp_add_array(c->out, argc - 2);
    for (int j = 2; j < argc; j++) {
        double score, xy[2];
        if (!found || !store_zset_score(c, argv[1], len[1], argv[j], len[j], &score)) {
            if (null_array)
                resp_add_null_array(c->out);
            else
                resp_add_null(c->out);
            continue;
        }
        geo_decode_score(score, xy);
        emit(c->out, xy);
    }
}

static void geo_emit_pos(struct resp_buf *out, const double *xy)
{
    resp_add_array(out, 2);
    geo_add_coord(out, xy[0]);
    geo_add_coord(out, xy[1]);
}

/* The standard geohash spans latitudes -90 to 90, not the Mercator limits
 * of the scores: the position is encoded again. */
static void geo_emit_hash(struct resp_buf *out, const double *xy)
{
    static const char alphabet[] = "0123456789bcdefghjkmnpqrstuvwxyz";
    struct gh_range lon = {-180, 180}, lat = {-90, 90};
    struct gh_bits h;
    gh_encode(lon, lat, xy[0], xy[1], 26, &h);
    char buf[11];
    for (int i = 0; i < 11; i++) {
        /* 52 bits make ten characters; the eleventh, kept for
         * compatibility, is always '0'. */
        int idx = i == 10 ? 0 : (int)((h.bits >> (52 - (i + 1) * 5)) & 0x1f);
        buf[i] = alphabet[idx];
    }
    resp_add_bulk(out, buf, 11);
}

STORE_DECL(geopos)
{
    geo_each_member(c, argc, argv, len, 1, geo_emit_pos);
}

STORE_DECL(geodist)
{
    double to_meters = 1;
    if (argc == 5) {
        to_meters = geo_unit(c, argv[4], len[4]);
        if (to_meters < 0)
            return;
    } else if (argc > 5) {
        resp_add_error(c->out, STORE_ESYNTAX);
        return;
    }
    struct store_rec r;
    int found = store_db_lookup_type(c, argv[1], len[1], STORE_T_ZSET, &r);
    if (found < 0)
        return;
    double s1, s2, a[2], b[2];
    if (!found || !store_zset_score(c, argv[1], len[1], argv[2], len[2], &s1) ||
        !store_zset_score(c, argv[1], len[1], argv[3], len[3], &s2)) {
        resp_add_null(c->out);
        return;
    }
    geo_decode_score(s1, a);
    geo_decode_score(s2, b);
    geo_add_distance(c->out, geo_distance(a[0], a[1], b[0], b[1]) / to_meters);
}

STORE_DECL(geohash)
{
    geo_each_member(c, argc, argv, len, 0, geo_emit_hash);
}

enum {
    GEO_COORDS = 1 << 0,      /* around a longitude, latitude (GEORADIUS) */
    GEO_MEMBER = 1 << 1,      /* around a member (GEORADIUSBYMEMBER) */
    GEO_NOSTORE = 1 << 2,     /* no STORE, STOREDIST (the _RO forms) */
    GEO_SEARCH = 1 << 3,      /* GEOSEARCH's arguments */
    GEO_SEARCHSTORE = 1 << 4, /* GEOSEARCHSTORE: only STOREDIST */
};

enum { GEO_SORT_NONE, GEO_SORT_ASC, GEO_SORT_DESC };

static void geo_store(struct store_ctx *c, const char *dst, size_t dlen, const struct geo_result *g,
                      long n, int storedist, double conversion, const char *event)
{
    const unsigned char **m = malloc(sizeof(*m) * (size_t)(n + 1));
    size_t *ml = malloc(sizeof(*ml) * (size_t)(n + 1));
    double *sc = malloc(sizeof(*sc) * (size_t)(n + 1));
    STORE_ASSERT(m && ml && sc);
    for (long i = 0; i < n; i++) {
        m[i] = (const unsigned char *)g->arena.data + g->p[i].off;
        ml[i] = g->p[i].len;
        sc[i] = storedist ? g->p[i].dist / conversion : g->p[i].score;
    }
    store_zset_store(c, dst, dlen, m, ml, sc, n, event);
    free(m);
    free(ml);
    free(sc);
}

/* GEORADIUS, GEORADIUSBYMEMBER, their _RO forms, GEOSEARCH and
 * GEOSEARCHSTORE (Redis's georadiusGeneric), src the source key's index. */
static void geo_radius_generic(struct store_ctx *c, int argc, char **argv, size_t *len, int src,
                               int flags)
{
    const char *store = NULL;
    size_t storelen = 0;
    int storedist = 0;
    struct store_rec r;
    int found = store_db_lookup_read_type(c, argv[src], len[src], STORE_T_ZSET, &r);
    if (found < 0)
        return;

    int base;
    struct geo_shape s = {0};
    if (flags & GEO_COORDS) {
        base = 6;
        if (geo_lonlat(c, argv + 2, len + 2, s.xy) != 0 ||
            geo_radius(c, argv + base - 2, len + base - 2, &s) != 0)
            return;
    } else if ((flags & GEO_MEMBER) && !found) {
        base = 5; /* the arguments are still read, for the reply's kind */
    } else if (flags & GEO_MEMBER) {
        base = 5;
        double score;
        if (!store_zset_score(c, argv[src], len[src], argv[2], len[2], &score)) {
            resp_add_error(c->out, "ERR could not decode requested zset member");
            return;
        }
        geo_decode_score(score, s.xy);
        if (geo_radius(c, argv + base - 2, len + base - 2, &s) != 0)
            return;
    } else {
        base = 2;
        if (flags & GEO_SEARCHSTORE) {
            base = 3;
            store = argv[1];
            storelen = len[1];
        }
    }

    int withdist = 0, withhash = 0, withcoords = 0;
    int frommember = 0, fromloc = 0, byradius = 0, bybox = 0;
    int sort = GEO_SORT_NONE, any = 0;
    long long count = 0;
    int remaining = argc - base;
    for (int i = 0; i < remaining; i++) {
        char *arg = argv[base + i];
        size_t al = len[base + i];
        char **next = argv + base + i + 1;
        size_t *nextlen = len + base + i + 1;
        if (store_strcasecmp_arg(arg, al, "withdist")) {
            withdist = 1;
        } else if (store_strcasecmp_arg(arg, al, "withhash")) {
            withhash = 1;
        } else if (store_strcasecmp_arg(arg, al, "withcoord")) {
            withcoords = 1;
        } else if (store_strcasecmp_arg(arg, al, "any")) {
            any = 1;
        } else if (store_strcasecmp_arg(arg, al, "asc")) {
            sort = GEO_SORT_ASC;
        } else if (store_strcasecmp_arg(arg, al, "desc")) {
            sort = GEO_SORT_DESC;
        } else if (store_strcasecmp_arg(arg, al, "count") && i + 1 < remaining) {
            if (!resp_string2ll(next[0], nextlen[0], &count)) {
                resp_add_error(c->out, STORE_ENOTINT);
                return;
            }
            if (count <= 0) {
                resp_add_error(c->out, "ERR COUNT must be > 0");
                return;
            }
            i++;
        } else if ((store_strcasecmp_arg(arg, al, "store") ||
                    store_strcasecmp_arg(arg, al, "storedist")) &&
                   i + 1 < remaining && !(flags & (GEO_NOSTORE | GEO_SEARCH))) {
            store = next[0];
            storelen = nextlen[0];
            storedist = store_strcasecmp_arg(arg, al, "storedist");
            i++;
        } else if (store_strcasecmp_arg(arg, al, "storedist") && (flags & GEO_SEARCH) &&
                   (flags & GEO_SEARCHSTORE)) {
            storedist = 1;
        } else if (store_strcasecmp_arg(arg, al, "frommember") && i + 1 < remaining &&
                   (flags & GEO_SEARCH) && !fromloc) {
            if (found) {
                double score;
                if (!store_zset_score(c, argv[src], len[src], next[0], nextlen[0], &score)) {
                    resp_add_error(c->out, "ERR could not decode requested zset member");
                    return;
                }
                geo_decode_score(score, s.xy);
            }
            frommember = 1;
            i++;
        } else if (store_strcasecmp_arg(arg, al, "fromlonlat") && i + 2 < remaining &&
                   (flags & GEO_SEARCH) && !frommember) {
            if (geo_lonlat(c, next, nextlen, s.xy) != 0)
                return;
            fromloc = 1;
            i += 2;
        } else if (store_strcasecmp_arg(arg, al, "byradius") && i + 2 < remaining &&
                   (flags & GEO_SEARCH) && !bybox) {
            if (geo_radius(c, next, nextlen, &s) != 0)
                return;
            byradius = 1;
            i += 2;
        } else if (store_strcasecmp_arg(arg, al, "bybox") && i + 3 < remaining &&
                   (flags & GEO_SEARCH) && !byradius) {
            if (geo_box(c, next, nextlen, &s) != 0)
                return;
            bybox = 1;
            i += 3;
        } else {
            resp_add_error(c->out, STORE_ESYNTAX);
            return;
        }
    }
    if (store && (withdist || withhash || withcoords)) {
        resp_add_errorf(c->out,
                        "ERR %s is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
                        (flags & GEO_SEARCHSTORE) ? "GEOSEARCHSTORE" : "STORE option in GEORADIUS");
        return;
    }
    /* Redis names the command as the client spelled it, up to a NUL. */
    int namelen = (int)strnlen(argv[0], len[0]);
    if ((flags & GEO_SEARCH) && !(frommember || fromloc)) {
        resp_add_errorf(c->out,
                        "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for %.*s",
                        namelen, argv[0]);
        return;
    }
    if ((flags & GEO_SEARCH) && !(byradius || bybox)) {
        resp_add_errorf(c->out, "ERR exactly one of BYRADIUS and BYBOX can be specified for %.*s",
                        namelen, argv[0]);
        return;
    }
    if (any && !count) {
        resp_add_error(c->out, "ERR the ANY argument requires COUNT argument");
        return;
    }
    if (!found) {
        if (store) {
            if (store_db_replace(c, store, storelen, 1))
                store_notify(c, STORE_EV_GENERIC, "del", store, storelen);
            resp_add_int(c->out, 0);
        } else {
            resp_add_array(c->out, 0);
        }
        return;
    }
    /* COUNT without an order means the nearest ones. */
    if (count != 0 && sort == GEO_SORT_NONE && !any)
        sort = GEO_SORT_ASC;

    struct geo_result g = {.shape = &s, .limit = any ? (long)count : 0};
    resp_buf_init(&g.arena);
    geo_search(c, argv[src], len[src], &s, &g);
    if (g.n == 0 && store == NULL) {
        resp_add_array(c->out, 0);
        goto done;
    }
    long total = g.n;
    long n = count == 0 || total < count ? total : (long)count;
    if (sort != GEO_SORT_NONE && total > 1) {
        if (n == total)
            qsort(g.p, (size_t)total, sizeof(*g.p),
                  sort == GEO_SORT_ASC ? geo_qsort_asc : geo_qsort_desc);
        else
            geo_pqsort(g.p, g.p, total, sort == GEO_SORT_ASC ? geo_cmp_asc : geo_cmp_desc, 0,
                       n - 1);
    }
    if (store) {
        geo_store(c, store, storelen, &g, n, storedist, s.conversion,
                  flags & GEO_SEARCHSTORE ? "geosearchstore" : "georadiusstore");
        goto done;
    }
    int options = withdist + withhash + withcoords;
    resp_add_array(c->out, n);
    for (long i = 0; i < n; i++) {
        const struct geo_point *p = &g.p[i];
        if (options)
            resp_add_array(c->out, options + 1);
        resp_add_bulk(c->out, g.arena.data + p->off, p->len);
        if (withdist)
            geo_add_distance(c->out, p->dist / s.conversion);
        if (withhash)
            resp_add_int(c->out, (long long)p->score);
        if (withcoords) {
            resp_add_array(c->out, 2);
            geo_add_coord(c->out, p->lon);
            geo_add_coord(c->out, p->lat);
        }
    }
done:
    free(g.p);
    resp_buf_fini(&g.arena);
}

STORE_DECL(georadius)
{
    geo_radius_generic(c, argc, argv, len, 1, GEO_COORDS);
}

STORE_DECL(georadius_ro)
{
    geo_radius_generic(c, argc, argv, len, 1, GEO_COORDS | GEO_NOSTORE);
}

STORE_DECL(georadiusbymember)
{
    geo_radius_generic(c, argc, argv, len, 1, GEO_MEMBER);
}

STORE_DECL(georadiusbymember_ro)
{
    geo_radius_generic(c, argc, argv, len, 1, GEO_MEMBER | GEO_NOSTORE);
}

STORE_DECL(geosearch)
{
    geo_radius_generic(c, argc, argv, len, 1, GEO_SEARCH);
}

STORE_DECL(geosearchstore)
{
    geo_radius_generic(c, argc, argv, len, 2, GEO_SEARCH | GEO_SEARCHSTORE);
}
