/* A fault shim for tests, loaded with LD_PRELOAD: while the file named by
 * $FAILWRITE_TRIGGER exists, every pwrite or pwritev to the first two pages
 * of a file (where LMDB keeps its meta pages, and where the journal starts)
 * fails with EIO, as a failing disk would. With $FAILWRITE_FILE set, only
 * files of that name fail (data.mdb: LMDB's meta pages; journal: the
 * journal's head). Writes further out go through as usual. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off);
ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off);
ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off);

static int should_fail(int fd, off_t off)
{
    const char *trigger = getenv("FAILWRITE_TRIGGER");
    if (off >= 2 * sysconf(_SC_PAGESIZE) || trigger == NULL || access(trigger, F_OK) != 0)
        return 0;
    const char *only = getenv("FAILWRITE_FILE");
    if (only == NULL || *only == '\0')
        return 1;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    const char *base = strrchr(path, '/');
    return strcmp(base ? base + 1 : path, only) == 0;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (real == NULL)
        real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    if (should_fail(fd, off)) {
        errno = EIO;
        return -1;
    }
    return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    return pwrite(fd, buf, n, off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    static ssize_t (*real)(int, const struct iovec *, int, off_t);
    if (real == NULL)
        real = (ssize_t(*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT, "pwritev");
    if (should_fail(fd, off)) {
        errno = EIO;
        return -1;
    }
    return real(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
    return pwritev(fd, iov, cnt, off);
}
