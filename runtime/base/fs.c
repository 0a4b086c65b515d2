/* dirname() */
#define _XOPEN_SOURCE 700

#include "runtime/base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

int gr_open_input(struct gr_ctx *ctx, const char *path, struct stat *st) {
    char why[160];
    int fd = gr_open_regular(path, st, why, sizeof why);
    if (fd < 0) gr_fail(ctx, "%s: %s", path, why);
    return fd;
}

int gr_read_text_file(struct gr_ctx *ctx, const char *path, size_t limit, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    struct stat st;
    int fd = gr_open_input(ctx, path, &st);
    if (fd < 0) return -1;
    if ((size_t)st.st_size > limit) {
        close(fd);
        return gr_fail(ctx, "%s: %lld bytes is too large (limit %zu)", path, (long long)st.st_size, limit);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return gr_fail(ctx, "%s: cannot open: %s", path, strerror(e));
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

int gr_commit_file(struct gr_ctx *ctx, int fd, const char *tmp, const char *path) {
    int rc = 0;
    if (fsync(fd) != 0) rc = gr_fail(ctx, "%s: fsync failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0) rc = gr_fail(ctx, "%s: close failed: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0) rc = gr_fail(ctx, "%s: cannot replace: %s", path, strerror(errno));
    if (rc) {
        unlink(tmp);
        return -1;
    }
    /* the rename itself must reach the disk */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int gr_replace_file(struct gr_ctx *ctx, const char *path, const char *head, const char *body, size_t body_len) {
    char tmp[4300];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return gr_fail(ctx, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return gr_fail(ctx, "%s: cannot write: %s", tmp, strerror(errno));
    if (gr_write_all(ctx, fd, head, strlen(head), tmp, NULL) || gr_write_all(ctx, fd, body, body_len, tmp, NULL)) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    return gr_commit_file(ctx, fd, tmp, path);
}

int gr_probe_writable(struct gr_ctx *ctx, const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return gr_fail(ctx, "%s: is a directory; name a file, e.g. %s/checkpoint.safetensors", path, path);
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) return gr_fail(ctx, "%s: not a regular file", path);
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
