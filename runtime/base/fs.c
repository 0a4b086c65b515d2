/* dirname(), realpath(), readlink(), clock_gettime() */
#define _XOPEN_SOURCE 700

#include "runtime/base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/ctx.h"

int gr_mkdirs(struct gr_ctx *ctx, const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return gr_fail(ctx, "%s: path too long", path);
    for (char *q = buf + 1; *q; q++) {
        if (*q != '/') continue;
        *q = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return gr_fail(ctx, "%s: cannot create: %s", buf, strerror(errno));
        *q = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return gr_fail(ctx, "%s: cannot create: %s", buf, strerror(errno));
    return 0;
}

int gr_make_parent(struct gr_ctx *ctx, const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return gr_fail(ctx, "%s: path too long", path);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf) return 0;
    *slash = 0;
    return gr_mkdirs(ctx, buf);
}

int gr_open_regular(const char *path, struct stat *st, char *why, size_t len) {
    memset(st, 0, sizeof *st);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return snprintf(why, len, "cannot open: %s", strerror(errno)), -1;
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        memset(st, 0, sizeof *st);
        return snprintf(why, len, "cannot open: %s", strerror(e)), -1;
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return snprintf(why, len, "not a regular file"), -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return snprintf(why, len, "cannot open: %s", strerror(e)), -1;
    }
    return fd;
}

FILE *gr_fopen_regular(const char *path, struct stat *st, char *why, size_t len) {
    int fd = gr_open_regular(path, st, why, len);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        snprintf(why, len, "cannot open: %s", strerror(errno));
        close(fd);
    }
    return f;
}

FILE *gr_fopen_input(struct gr_ctx *ctx, const char *path, struct stat *st) {
    char why[160];
    FILE *f = gr_fopen_regular(path, st, why, sizeof why);
    if (!f) gr_fail(ctx, "%s: %s", path, why);
    return f;
}

int gr_read_text_file(struct gr_ctx *ctx, const char *path, size_t limit, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    struct stat st;
    FILE *f = gr_fopen_input(ctx, path, &st);
    if (!f) return -1;
    if ((size_t)st.st_size > limit) {
        fclose(f);
        return gr_fail(ctx, "%s: %lld bytes is too large (limit %zu)", path, (long long)st.st_size, limit);
    }
    size_t n = (size_t)st.st_size;
    char *buf = gr_alloc(ctx, n + 1);
    if (!buf) {
        fclose(f);
        return -1;
    }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != n) {
        gr_free(ctx, buf);
        return gr_fail(ctx, "%s: read error", path);
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

int gr_write_all(struct gr_ctx *ctx, int fd, const void *buf, size_t len, const char *path, uint64_t *written) {
    const char *p = buf;
    while (len > 0) {
        size_t chunk = len > ((size_t)1 << 20) ? ((size_t)1 << 20) : len;
        ssize_t w = write(fd, p, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return gr_fail(ctx, "%s: write failed: %s", path, w < 0 ? strerror(errno) : "nothing written");
        p += w;
        len -= (size_t)w;
        if (written) {
            *written += (uint64_t)w;
            if (ctx->write_hook) ctx->write_hook(ctx->write_hook_ud, *written);
        }
    }
    return 0;
}

/* Where the bytes for `path` go. A path that exists and is no regular file
 * once its links are followed (a device such as /dev/full, a FIFO,
 * /dev/stdout on a pipe or a terminal) is written straight into: a file
 * renamed over it would replace the device or the pipe with a regular file
 * and hide the failure. A link to a regular file, or to none yet, stands:
 * the file it leads to is the one replaced. 1: straight into o->target;
 * 0: through a temporary file beside o->target; -1: an error. */
static int resolve_output(struct gr_ctx *ctx, struct gr_output *o) {
    const char *path = o->path;
    struct stat st;
    if (snprintf(o->target, sizeof o->target, "%s", path) >= (int)sizeof o->target)
        return gr_fail(ctx, "%s: path too long", path);
    if (stat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode)) return 1;
        if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode)) return 0;
        char real[PATH_MAX];
        if (!realpath(path, real)) return gr_fail(ctx, "%s: cannot follow the link: %s", path, strerror(errno));
        if (snprintf(o->target, sizeof o->target, "%s", real) >= (int)sizeof o->target)
            return gr_fail(ctx, "%s: path too long", real);
        return 0;
    }
    /* missing, or links to a file that is not there yet, which realpath
     * will not resolve: the links followed one by one, as open() would */
    for (int hops = 0; lstat(o->target, &st) == 0 && S_ISLNK(st.st_mode); hops++) {
        char link[4096];
        ssize_t n = hops < 40 ? readlink(o->target, link, sizeof link - 1) : (errno = ELOOP, -1);
        if (n < 0) return gr_fail(ctx, "%s: cannot follow the link: %s", path, strerror(errno));
        link[n] = 0;
        char *slash = strrchr(o->target, '/');
        size_t keep = link[0] == '/' || !slash ? 0 : (size_t)(slash + 1 - o->target);
        if (keep + (size_t)n >= sizeof o->target) return gr_fail(ctx, "%s: path too long", path);
        memcpy(o->target + keep, link, (size_t)n + 1);
    }
    return 0;
}

/* A new file beside the target, "<target>.tmp.<6 hex digits>": O_EXCL
 * never opens what is already there (a link planted at that name, another
 * run's half-written file), and a name of its own per write keeps two
 * writers of one path apart. Created with mode 0644 through the umask, as
 * any file graphrun writes (mkstemp's 0600 would need an fchmod that
 * ignores the umask). */
static int open_temporary(struct gr_ctx *ctx, struct gr_output *o) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint32_t x = (uint32_t)getpid() * 2654435761u ^ (uint32_t)now.tv_nsec ^ (uint32_t)now.tv_sec;
    int e = EEXIST;
    for (int attempt = 0; attempt < 64 && e == EEXIST; attempt++) {
        x = x * 1664525u + 1013904223u;
        if (snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%06x", o->target, (unsigned)(x >> 8)) >= (int)sizeof o->tmp)
            return gr_fail(ctx, "%s: path too long", o->path);
        o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        e = o->fd >= 0 ? 0 : errno;
        /* held while written (gr_remove_abandoned); where it is already
         * held, a cleaner took it in the moment since its creation and is
         * removing it: another name. A file system without flock leaves
         * it unheld, and cleaners then leave it alone. */
        if (o->fd >= 0 && flock(o->fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
            close(o->fd);
            o->fd = -1;
            e = EEXIST;
        }
        if (o->fd >= 0) return 0;
    }
    o->tmp[0] = 0;
    return gr_fail(ctx, "%s: cannot write: %s", o->path, strerror(e));
}

int gr_open_output(struct gr_ctx *ctx, struct gr_output *o, const char *path) {
    o->fd = -1;
    o->path = path;
    o->tmp[0] = 0;
    int direct = resolve_output(ctx, o);
    if (direct < 0) return -1;
    if (!direct) return open_temporary(ctx, o);
    o->fd = open(o->target, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (o->fd < 0) return gr_fail(ctx, "%s: cannot write: %s", path, strerror(errno));
    return 0;
}

void gr_discard_output(struct gr_output *o) {
    if (o->tmp[0]) unlink(o->tmp); /* still held: no cleaner meets it closed */
    if (o->fd >= 0) close(o->fd);
    o->fd = -1;
    o->tmp[0] = 0;
}

int gr_remove_abandoned(int dirfd, const char *name) {
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat mine, now;
    int gone = fstat(fd, &mine) == 0 && S_ISREG(mine.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
               fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == mine.st_dev &&
               now.st_ino == mine.st_ino && unlinkat(dirfd, name, 0) == 0;
    close(fd);
    return gone;
}

int gr_commit_output(struct gr_ctx *ctx, struct gr_output *o) {
    int rc = 0;
    /* a device or a pipe has nothing to sync (fsync fails with EINVAL):
     * there only what close() says counts. A temporary is renamed before
     * it is closed, so that its lock (open_temporary) covers it until it
     * has its final name. */
    int direct = !o->tmp[0];
    if (!direct && fsync(o->fd) != 0) rc = gr_fail(ctx, "%s: fsync failed: %s", o->path, strerror(errno));
    if (rc == 0 && !direct && rename(o->tmp, o->target) != 0)
        rc = gr_fail(ctx, "%s: cannot replace: %s", o->target, strerror(errno));
    if (rc == 0) o->tmp[0] = 0; /* renamed (or none): nothing to remove, even if close fails */
    if (close(o->fd) != 0 && rc == 0) rc = gr_fail(ctx, "%s: close failed: %s", o->path, strerror(errno));
    o->fd = -1;
    if (rc) {
        gr_discard_output(o);
        return -1;
    }
    if (direct) return 0; /* written straight into the device or pipe */
    /* the rename itself must reach the disk */
    char dir[sizeof o->target];
    snprintf(dir, sizeof dir, "%s", o->target);
    int dfd = open(dirname(dir), O_RDONLY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int gr_replace_file(struct gr_ctx *ctx, const char *path, const char *head, const char *body, size_t body_len) {
    struct gr_output o;
    if (gr_open_output(ctx, &o, path)) return -1;
    if (gr_write_all(ctx, o.fd, head, strlen(head), path, NULL) || gr_write_all(ctx, o.fd, body, body_len, path, NULL)) {
        gr_discard_output(&o);
        return -1;
    }
    return gr_commit_output(ctx, &o);
}

int gr_probe_writable(struct gr_ctx *ctx, const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return gr_fail(ctx, "%s: is a directory; name a file, e.g. %s/checkpoint.safetensors", path, path);
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) return gr_fail(ctx, "%s: not a regular file", path);
    /* a name that can only be a folder's, whether or not it exists yet:
     * "runs/x/", "x/." or ".." */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!base[0] || !strcmp(base, ".") || !strcmp(base, ".."))
        return gr_fail(ctx, "%s: names a directory; name a file in it, e.g. %s%scheckpoint.safetensors", path, path,
                       base[0] ? "/" : "");
    /* the nearest folder that exists (saving creates the ones below it) */
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) return gr_fail(ctx, "%s: path too long", path);
    for (;;) {
        char *slash = strrchr(dir, '/');
        if (!slash) snprintf(dir, sizeof dir, ".");
        else if (slash == dir) dir[1] = 0;
        else *slash = 0;
        if (stat(dir, &st) == 0) break;
        if ((errno != ENOENT && errno != ENOTDIR) || !slash || slash == dir)
            return gr_fail(ctx, "%s: cannot write there: %s: %s", path, dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) return gr_fail(ctx, "%s: cannot write there: %s is not a directory", path, dir);
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.graphrun-probe-XXXXXX", dir);
    int fd = mkstemp(probe);
    if (fd < 0) return gr_fail(ctx, "%s: cannot write a file in %s: %s", path, dir, strerror(errno));
    close(fd);
    unlink(probe);
    return 0;
}
