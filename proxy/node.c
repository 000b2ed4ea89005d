/* The node: serves requests from ferry's own store. This build has no store
 * yet, so a store-served phase is refused at start-up, plainly. */
#include "proxy/proxy.h"

#include <stdio.h>

int proxy_node_open(struct proxy_server *s, char *err, size_t errlen)
{
    (void)s;
    snprintf(err, errlen, "phase raft-only needs the embedded store, which this build lacks");
    return -1;
}

void proxy_node_close(struct proxy_server *s)
{
    (void)s;
}

void proxy_node_request(struct proxy_client *c, struct resp_request *req)
{
    (void)req;
    proxy_client_reply_error(c, "ERR ferry: no store in this build");
}

void proxy_node_client_closed(struct proxy_client *c)
{
    (void)c;
}
