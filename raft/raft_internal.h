/* Internals shared by the files of raft/; nothing outside raft/ includes this. */
#ifndef FERRY_RAFT_INTERNAL_H
#define FERRY_RAFT_INTERNAL_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "raft/raft.h"

/* Always on: a broken invariant in the core must stop the node, not corrupt it. */
#define RAFT_ASSERT(c)                                                                   \
    do {                                                                                 \
        if (!(c)) raft_assert_fail(#c, __FILE__, __LINE__);                              \
    } while (0)

void raft_assert_fail(const char *cond, const char *file, int line) __attribute__((noreturn));
void *raft_xmalloc(size_t n);
void *raft_xcalloc(size_t n, size_t size);
void *raft_xrealloc(void *p, size_t n);

#endif
