/* A full disk for one folder, without mounting anything: loaded with
 * LD_PRELOAD, this makes every write to a file under $GR_FULL_PREFIX fail
 * with ENOSPC once the process has written $GR_FULL_AFTER bytes to such
 * files (a write that crosses the limit is cut short, as on a real disk).
 *
 * write(), writev(), pwrite() on descriptors opened under the prefix are
 * counted. stdio does not call write() through the dynamic linker, so a
 * stream fopen'ed for writing under the prefix is made with fopencookie()
 * over such a descriptor instead, and fileno() answers for it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FD 4096

static unsigned char tracked[MAX_FD];
static long long used;

static void *real(const char *name) {
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) abort();
    return f;
}

static int under_prefix(const char *path) {
    const char *prefix = getenv("GR_FULL_PREFIX");
    if (!prefix || !*prefix || !path) return 0;
    char abs[8192];
    if (path[0] == '/') {
        snprintf(abs, sizeof abs, "%s", path);
    } else {
        if (!getcwd(abs, sizeof abs - 2)) return 0;
        size_t n = strlen(abs);
        snprintf(abs + n, sizeof abs - n, "/%s", path);
    }
    return strncmp(abs, prefix, strlen(prefix)) == 0;
}

/* How many of n bytes may still be written; 0 sets ENOSPC. */
static size_t allowance(size_t n) {
    const char *after = getenv("GR_FULL_AFTER");
    long long limit = after ? atoll(after) : 0, left = limit - used;
    if (left <= 0) {
        errno = ENOSPC;
        return 0;
    }
    return (long long)n < left ? n : (size_t)left;
}

static int is_tracked(int fd) { return fd >= 0 && fd < MAX_FD && tracked[fd]; }

static void track(int fd, const char *path, int flags) {
    if (fd >= 0 && fd < MAX_FD) tracked[fd] = (flags & (O_WRONLY | O_RDWR)) && under_prefix(path);
}

ssize_t write(int fd, const void *buf, size_t n) {
    static ssize_t (*next)(int, const void *, size_t);
    if (!next) next = (ssize_t (*)(int, const void *, size_t))real("write");
    if (!is_tracked(fd) || n == 0) return next(fd, buf, n);
    size_t ok = allowance(n);
    if (ok == 0) return -1;
    ssize_t w = next(fd, buf, ok);
    if (w > 0) used += w;
    return w;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t at) {
    static ssize_t (*next)(int, const void *, size_t, off_t);
    if (!next) next = (ssize_t (*)(int, const void *, size_t, off_t))real("pwrite");
    if (!is_tracked(fd) || n == 0) return next(fd, buf, n, at);
    size_t ok = allowance(n);
    if (ok == 0) return -1;
    ssize_t w = next(fd, buf, ok, at);
    if (w > 0) used += w;
    return w;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t at) { return pwrite(fd, buf, n, at); }

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    static ssize_t (*next)(int, const struct iovec *, int);
    if (!next) next = (ssize_t (*)(int, const struct iovec *, int))real("writev");
    if (!is_tracked(fd)) return next(fd, iov, cnt);
    ssize_t total = 0;
    for (int i = 0; i < cnt; i++) {
        ssize_t w = write(fd, iov[i].iov_base, iov[i].iov_len);
        if (w < 0) return total ? total : -1;
        total += w;
        if ((size_t)w < iov[i].iov_len) break;
    }
    return total;
}

static int open_common(const char *name, int dirfd, const char *path, int flags, mode_t mode) {
    int fd;
    if (dirfd == -1) {
        int (*next)(const char *, int, ...) = (int (*)(const char *, int, ...))real(name);
        fd = next(path, flags, mode);
    } else {
        int (*next)(int, const char *, int, ...) = (int (*)(int, const char *, int, ...))real(name);
        fd = next(dirfd, path, flags, mode);
    }
    track(fd, path, flags);
    return fd;
}

#define MODE_ARG(flags)                                                                                                \
    mode_t mode = 0;                                                                                                   \
    if ((flags) & (O_CREAT | O_TMPFILE)) {                                                                             \
        va_list ap;                                                                                                    \
        va_start(ap, flags);                                                                                           \
        mode = (mode_t)va_arg(ap, int);                                                                                \
        va_end(ap);                                                                                                    \
    }

int open(const char *path, int flags, ...) {
    MODE_ARG(flags);
    return open_common("open", -1, path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    MODE_ARG(flags);
    return open_common("open64", -1, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
    MODE_ARG(flags);
    return open_common("openat", dirfd == -1 ? -2 : dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) {
    MODE_ARG(flags);
    return open_common("openat64", dirfd == -1 ? -2 : dirfd, path, flags, mode);
}

int creat(const char *path, mode_t mode) { return open(path, O_WRONLY | O_CREAT | O_TRUNC, mode); }

int close(int fd) {
    static int (*next)(int);
    if (!next) next = (int (*)(int))real("close");
    if (fd >= 0 && fd < MAX_FD) tracked[fd] = 0;
    return next(fd);
}

/* ---- stdio ------------------------------------------------------------------ */

struct cookie {
    int fd;
    FILE *f;
    struct cookie *next;
};

static struct cookie *cookies;

static ssize_t c_read(void *c, char *buf, size_t n) { return read(((struct cookie *)c)->fd, buf, n); }

/* As stdio does on a descriptor: goes on after a short write, until a write
 * fails; fewer bytes than asked is an error, errno says which. */
static ssize_t c_write(void *c, const char *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(((struct cookie *)c)->fd, buf + done, n - done);
        if (w <= 0) break;
        done += (size_t)w;
    }
    return (ssize_t)done;
}

static int c_seek(void *c, off64_t *at, int whence) {
    off_t r = lseek(((struct cookie *)c)->fd, (off_t)*at, whence);
    if (r < 0) return -1;
    *at = r;
    return 0;
}

static int c_close(void *c) {
    struct cookie *k = c;
    for (struct cookie **p = &cookies; *p; p = &(*p)->next)
        if (*p == k) {
            *p = k->next;
            break;
        }
    int rc = close(k->fd);
    free(k);
    return rc;
}

static FILE *open_stream(const char *name, const char *path, const char *mode) {
    FILE *(*next)(const char *, const char *) = (FILE * (*)(const char *, const char *)) real(name);
    int plus = strchr(mode, '+') != NULL, flags;
    if (mode[0] == 'w') flags = (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC;
    else if (mode[0] == 'a') flags = (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND;
    else flags = plus ? O_RDWR : O_RDONLY;
    if (!(flags & (O_WRONLY | O_RDWR)) || !under_prefix(path)) return next(path, mode);
    int fd = open(path, flags | (strchr(mode, 'e') ? O_CLOEXEC : 0), 0666);
    if (fd < 0) return NULL;
    struct cookie *k = calloc(1, sizeof *k);
    cookie_io_functions_t io = {c_read, c_write, c_seek, c_close};
    FILE *f = k ? fopencookie(k, mode, io) : NULL;
    if (!f) {
        free(k);
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    k->fd = fd;
    k->f = f;
    k->next = cookies;
    cookies = k;
    return f;
}

FILE *fopen(const char *path, const char *mode) { return open_stream("fopen", path, mode); }
FILE *fopen64(const char *path, const char *mode) { return open_stream("fopen64", path, mode); }

int fileno(FILE *f) {
    for (struct cookie *k = cookies; k; k = k->next)
        if (k->f == f) return k->fd;
    static int (*next)(FILE *);
    if (!next) next = (int (*)(FILE *))real("fileno");
    return next(f);
}
