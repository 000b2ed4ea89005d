/* The structures shared by server.c, client.c and admin.c. Internal to
 * proxy/. */
#ifndef FERRY_PROXY_CORE_H
#define FERRY_PROXY_CORE_H

#include <event2/event.h>
#include <stdint.h>

#include "proxy/proxy.h"

/* Output above HIGH pauses the producer; it resumes below LOW. Ferry never
 * stops reading a client because the client is slow to read its replies
 * (that deadlocks clients that write a whole pipeline before reading, and
 * Redis does not do it either); instead it stops reading the upstream, so
 * the replies wait in Redis's own output buffer. */
#define PROXY_OUT_HIGH (1024 * 1024)
#define PROXY_OUT_LOW (256 * 1024)

enum proxy_slot_kind {
    PROXY_SLOT_UPSTREAM, /* a run of `expect` replies from the upstream */
    PROXY_SLOT_LOCAL,    /* one reply made by ferry, filled now or later */
    PROXY_SLOT_RAW,      /* everything the upstream sends from now on */
};

struct proxy_slot {
    struct proxy_slot *next;
    uint8_t kind;          /* enum proxy_slot_kind */
    uint8_t filled;        /* LOCAL: the reply is in buf */
    uint32_t expect;       /* UPSTREAM: replies still to come */
    struct evbuffer *buf;  /* replies held while an earlier slot is unanswered */
};

enum proxy_upstream_state { PROXY_UP_IDLE = 0, PROXY_UP_CONNECTING, PROXY_UP_READY };

/* A client's own connection to the upstream Redis. Embedded in the client,
 * so its lifetime is the client's. */
struct proxy_upstream {
    int fd;
    int state;                 /* enum proxy_upstream_state */
    struct event *rev, *wev;
    struct event *connect_timer;
    struct evbuffer *in, *out;
    struct resp_scanner scan;
    size_t scanned;            /* bytes of `in` already given to the scanner */
    int hidden;                /* replies to our own AUTH still to swallow */
    int read_paused;           /* the client's output is over PROXY_OUT_HIGH */
};

struct proxy_client {
    uint64_t id;
    int fd;
    struct proxy_server *srv;
    struct proxy_client *prev, *next; /* the server's list of live clients */
    struct event *rev, *wev;
    struct evbuffer *out;
    struct resp_reader *reader;
    struct proxy_slot *head, *tail;   /* replies in request order */
    struct proxy_slot *up_next;       /* the slot the next upstream reply belongs to */
    struct proxy_slot *raw;           /* set once the client is in raw mode */
    unsigned unfilled;                /* LOCAL slots reserved and not yet filled */
    struct proxy_upstream up;
    uint64_t last_active_ms;
    void *node_state;
    struct proxy_client *dirty_prev, *dirty_next; /* the server's flush list */
    unsigned dirty : 1;            /* on the flush list */
    unsigned wev_pending : 1;      /* waiting for the socket to be writable */
    unsigned authenticated : 1;
    unsigned read_paused : 1;      /* the upstream's output is over PROXY_OUT_HIGH */
    unsigned close_after_reply : 1;
    unsigned gone : 1;             /* the socket is closed; waiting for unfilled slots */
    /* Connection state that the upstream holds for this client: losing the
     * upstream connection then loses it silently, so the client is closed. */
    unsigned in_multi : 1;
    unsigned watching : 1;
    unsigned db_selected : 1;
    unsigned named : 1;
    char addr[64];
};

struct proxy_server {
    struct proxy_config cfg;
    struct event_base *base;
    struct evconnlistener *listeners[PROXY_MAX_BIND];
    int nlisteners;
    struct proxy_client *clients;
    int nclients;
    uint64_t next_client_id;
    struct event *cron;            /* once a second: idle timeouts */
    /* Clients with output to send. Flushed once per loop turn, after every
     * I/O callback of the turn, so a turn costs one write per connection. */
    struct event *flush_ev;
    struct proxy_client *dirty;
    struct event *sigterm, *sigint, *sighup;
    struct event *shutdown_timer;
    int shutting_down;
    /* Upstream health, shared by every client's connection: after a failed
     * connect nobody tries again before retry_at, so a dead Redis costs one
     * attempt per backoff period rather than one per request. */
    struct {
        int down;
        int failures;
        uint64_t retry_at_ms;
        char reason[128];
    } upstream;
    struct {
        uint64_t connections_received;
        uint64_t connections_rejected;
        uint64_t commands;
        uint64_t protocol_errors;
        uint64_t upstream_errors;
    } stats;
    uint64_t start_ms;
    /* Where the config came from, for SIGHUP. */
    char *config_file;
    int config_argc;
    char **config_argv;
};

/* client.c */
void proxy_client_flush_all(struct proxy_server *s);
void proxy_client_accept(struct proxy_server *s, int fd, const char *addr);
void proxy_client_close(struct proxy_client *c);
void proxy_client_shutdown(struct proxy_client *c); /* stop reading; close after replies */
int proxy_client_idle_timed_out(const struct proxy_client *c, uint64_t now_ms);

/* server.c */
struct proxy_server *proxy_server_new(const struct proxy_config *cfg, char *err, size_t errlen);
int proxy_server_run(struct proxy_server *s);
void proxy_server_free(struct proxy_server *s);
/* SIGHUP: re-reads the config and applies what can change at runtime. */
void proxy_server_reload(struct proxy_server *s);
void proxy_server_client_gone(struct proxy_server *s); /* shutdown waits for the last */

#endif
