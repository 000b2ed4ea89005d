/* Keyspace events: Redis's notify-keyspace-events classes, and the list of
 * events that apply records for the owner to publish once it commits. */
#include "store/store_int.h"

/* The letters in Redis's order (keyspaceEventsFlagsToString): the classes
 * 'A' covers, then n; K, E and m follow them. When 'A' is printed, it
 * takes the place of the first EV_NCLASSES, n included. */
static const struct {
    char letter;
    unsigned cls;
} ev_letters[] = {
    {'g', STORE_EV_GENERIC}, {'$', STORE_EV_STRING},   {'l', STORE_EV_LIST},
    {'s', STORE_EV_SET},     {'h', STORE_EV_HASH},     {'z', STORE_EV_ZSET},
    {'x', STORE_EV_EXPIRED}, {'e', STORE_EV_EVICTED},  {'t', STORE_EV_STREAM},
    {'d', STORE_EV_MODULE},  {'n', STORE_EV_NEW},      {'K', STORE_EV_KEYSPACE},
    {'E', STORE_EV_KEYEVENT}, {'m', STORE_EV_KEYMISS},
};

#define EV_NLETTERS (sizeof(ev_letters) / sizeof(ev_letters[0]))
#define EV_NCLASSES 11 /* g to n */

long store_events_parse(const char *s, size_t len)
{
    unsigned classes = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == 'A') {
            classes |= STORE_EV_ALL;
            continue;
        }
        size_t j = 0;
        while (j < EV_NLETTERS && ev_letters[j].letter != s[i])
            j++;
        if (j == EV_NLETTERS)
            return -1;
        classes |= ev_letters[j].cls;
    }
    return (long)classes;
}

void store_events_format(unsigned classes, char *buf)
{
    size_t n = 0;
    size_t j = 0;
    /* As Redis prints them: with 'A', n is left out though it is on. */
    if ((classes & STORE_EV_ALL) == STORE_EV_ALL) {
        buf[n++] = 'A';
        j = EV_NCLASSES;
    }
    for (; j < EV_NLETTERS; j++)
        if (classes & ev_letters[j].cls)
            buf[n++] = ev_letters[j].letter;
    buf[n] = '\0';
}

void store_set_events(struct store *s, unsigned classes)
{
    /* Without K or E nothing is published: record nothing. */
    s->ev_classes = classes & (STORE_EV_KEYSPACE | STORE_EV_KEYEVENT) ? classes : 0;
}

void store_notify(struct store_ctx *c, unsigned cls, const char *event, const char *key,
                  size_t klen)
{
    struct store *s = c->s;
    if (!(s->ev_classes & cls) || s->ev_mute)
        return;
    unsigned char hdr[5];
    size_t elen = strlen(event);
    STORE_ASSERT(elen < 256);
    hdr[0] = (unsigned char)elen;
    resp_buf_append(&s->events, hdr, 1);
    resp_buf_append(&s->events, event, elen);
    store_put_u32(hdr, (uint32_t)klen);
    resp_buf_append(&s->events, hdr, 4);
    resp_buf_append(&s->events, key, klen);
}

size_t store_events_mark(const struct store *s)
{
    return s->events.len;
}

void store_events_each(const struct store *s, size_t from, size_t to, store_event_cb cb,
                       void *arg)
{
    const unsigned char *p = (const unsigned char *)s->events.data;
    if (to > s->events.len)
        to = s->events.len;
    while (from < to) {
        char name[256];
        size_t elen = p[from];
        memcpy(name, p + from + 1, elen);
        name[elen] = '\0';
        uint32_t klen = store_get_u32(p + from + 1 + elen);
        cb(arg, name, (const char *)p + from + 5 + elen, klen);
        from += 5 + elen + klen;
    }
}

void store_events_clear(struct store *s, size_t mark)
{
    if (mark == 0)
        resp_buf_reset_shrink(&s->events, STORE_BUF_KEEP);
    else if (mark < s->events.len)
        s->events.len = mark;
}
