/* A fault shim for tests, loaded with LD_PRELOAD: while the file named by
 * $FAILWRITE_TRIGGER exists, every pwrite to the first two pages of a file
 * (where LMDB keeps its meta pages) fails with EIO, as a failing disk
 * would. Data pages, further out, are written as usual. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off);

static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (real_pwrite == NULL)
        real_pwrite = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    const char *trigger = getenv("FAILWRITE_TRIGGER");
    if (off < 2 * sysconf(_SC_PAGESIZE) && trigger != NULL && access(trigger, F_OK) == 0) {
        errno = EIO;
        return -1;
    }
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    return pwrite(fd, buf, n, off);
}
