/* The reader registry and what every reader shares: opening the file,
 * detecting its format, the array list, reads by offset. Adding a format:
 * write runtime/reader_<name>.c exporting a descriptor, list it here, and
 * add the file to CMakeLists.txt. */
#include "runtime/data/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/ctx.h"
#include "runtime/base/fs.h"

extern const struct gr_reader_desc gr_reader_npy, gr_reader_npz, gr_reader_idx, gr_reader_csv;

/* Sniffed in this order; csv has no sniff and comes last. */
static const struct gr_reader_desc *const readers[] = {&gr_reader_npy, &gr_reader_npz, &gr_reader_idx,
                                                       &gr_reader_csv};

int gr_reader_count(void) { return (int)(sizeof readers / sizeof readers[0]); }

const struct gr_reader_desc *gr_reader_at(int i) {
    GR_ASSERT(i >= 0 && i < gr_reader_count());
    return readers[i];
}

const struct gr_reader_desc *gr_reader_find(const char *name) {
    for (int i = 0; i < gr_reader_count(); i++)
        if (strcmp(readers[i]->name, name) == 0) return readers[i];
    return NULL;
}

static int has_suffix(const char *path, const char *suffix) {
    size_t n = strlen(path), m = strlen(suffix);
    return n > m && strcasecmp(path + n - m, suffix) == 0;
}

const struct gr_reader_desc *gr_reader_detect(const char *path, const uint8_t *head, size_t n) {
    for (int i = 0; i < gr_reader_count(); i++)
        if (readers[i]->sniff && readers[i]->sniff(head, n)) return readers[i];
    for (int i = 0; i < gr_reader_count(); i++)
        for (const char *const *e = readers[i]->extensions; e && *e; e++)
            if (has_suffix(path, *e)) return readers[i];
    return NULL;
}

static void known_formats(char *buf, size_t len) {
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < gr_reader_count() && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? ", " : "", readers[i]->name);
}

static int unknown_format(struct gr_ctx *ctx, const char *name, const char *format) {
    char known[128];
    known_formats(known, sizeof known);
    return gr_fail(ctx, "%s: unknown format '%s' (graphrun reads %s)", name, format, known);
}

static int64_t mtime_ns(const struct stat *st) {
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* The file the descriptor holds must still be the one that was opened. */
static int check_unchanged(struct gr_ctx *ctx, const struct gr_source *src) {
    struct stat st;
    if (fstat(src->fd, &st) != 0) return gr_fail(ctx, "%s: cannot read: %s", src->path, strerror(errno));
    if ((uint64_t)st.st_size != src->size)
        return gr_fail(ctx, "%s: the file changed while graphrun was reading it (%llu bytes, then %lld)", src->path,
                       (unsigned long long)src->size, (long long)st.st_size);
    if (mtime_ns(&st) != src->mtime_ns)
        return gr_fail(ctx, "%s: the file changed while graphrun was reading it (written to since it was checked)",
                       src->path);
    return 0;
}

static int detect(struct gr_ctx *ctx, struct gr_source *src, const char *name) {
    uint8_t head[GR_SNIFF_BYTES];
    int64_t got = gr_source_pread(ctx, src, head, sizeof head, 0);
    if (got < 0) return -1;
    src->reader = gr_reader_detect(name, head, (size_t)got);
    if (src->reader) return 0;
    char known[128];
    known_formats(known, sizeof known);
    char bytes[3 * 8 + 1] = "";
    for (int i = 0; i < got && i < 8; i++) snprintf(bytes + 3 * i - (i > 0), 4, "%s%02x", i ? " " : "", head[i]);
    return gr_fail(ctx, "%s: cannot tell the file's format from its name or its first bytes (%s); give its format "
                        "(one of %s)",
                   name, bytes, known);
}

int gr_source_open_fd(struct gr_ctx *ctx, struct gr_source *src, int fd, const char *name, const char *format,
                      const struct gr_read_opts *opts) {
    memset(src, 0, sizeof *src);
    src->fd = fd;
    if (format && !(src->reader = gr_reader_find(format))) return unknown_format(ctx, name, format);
    struct stat st;
    if (fstat(fd, &st) != 0) return gr_fail(ctx, "%s: cannot open: %s", name, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return gr_fail(ctx, "%s: is a directory, not %s", name, src->reader ? src->reader->what : "a data file");
    if (!S_ISREG(st.st_mode)) return gr_fail(ctx, "%s: not a regular file", name);
    if (st.st_size == 0) return gr_fail(ctx, "%s: file is empty", name);
    src->size = (uint64_t)st.st_size;
    src->mtime_ns = mtime_ns(&st);
    src->path = gr_strdup(ctx, name);
    if (!src->path) return -1;
    static const struct gr_read_opts none = {0};
    if ((!src->reader && detect(ctx, src, name)) || src->reader->open(ctx, src, opts ? opts : &none)) {
        gr_source_close(ctx, src);
        src->fd = fd;
        return -1;
    }
    return 0;
}

int gr_source_open(struct gr_ctx *ctx, struct gr_source *src, const char *path, const char *format,
                   const struct gr_read_opts *opts) {
    memset(src, 0, sizeof *src);
    src->fd = -1;
    const struct gr_reader_desc *named = format ? gr_reader_find(format) : NULL;
    if (format && !named) return unknown_format(ctx, path, format);
    struct stat st;
    char why[160];
    int fd = gr_open_regular(path, &st, why, sizeof why);
    if (fd < 0 && S_ISDIR(st.st_mode))
        return gr_fail(ctx, "%s: is a directory, not %s", path, named ? named->what : "a data file");
    if (fd < 0) return gr_fail(ctx, "%s: %s", path, why);
    if (gr_source_open_fd(ctx, src, fd, path, format, opts)) {
        close(fd);
        src->fd = -1;
        return -1;
    }
    src->own_fd = 1;
    return 0;
}

int gr_source_find(const struct gr_source *src, const char *name) {
    for (int i = 0; i < src->n_arrays; i++)
        if (strcmp(src->arrays[i].name, name) == 0) return i;
    return -1;
}

int gr_source_read_all(struct gr_ctx *ctx, struct gr_source *src, void *const *dst) {
    GR_ASSERT(src->reader);
    if (src->reader->read(ctx, src, dst)) return -1;
    return check_unchanged(ctx, src);
}

int gr_source_read(struct gr_ctx *ctx, struct gr_source *src, int k, void *dst, size_t bytes) {
    GR_ASSERT(k >= 0 && k < src->n_arrays && dst);
    GR_ASSERT(bytes == gr_array_bytes(&src->arrays[k]));
    void **all = gr_calloc(ctx, (size_t)src->n_arrays, sizeof *all);
    if (!all) return -1;
    all[k] = dst;
    int rc = gr_source_read_all(ctx, src, all);
    gr_free(ctx, all);
    return rc;
}

void gr_source_close(struct gr_ctx *ctx, struct gr_source *src) {
    if (src->reader && src->reader->close) src->reader->close(ctx, src);
    for (int i = 0; i < src->n_arrays; i++) {
        for (int c = 0; c < src->arrays[i].n_columns && src->arrays[i].columns; c++)
            gr_free(ctx, src->arrays[i].columns[c]);
        gr_free(ctx, src->arrays[i].columns);
    }
    gr_free(ctx, src->arrays);
    gr_free(ctx, src->path);
    if (src->own_fd && src->fd >= 0) close(src->fd);
    memset(src, 0, sizeof *src);
    src->fd = -1;
}

struct gr_array_info *gr_source_add(struct gr_ctx *ctx, struct gr_source *src, const char *where, const char *name) {
    if (strlen(name) > GR_ARRAY_NAME_MAX) {
        gr_fail(ctx, "%s: array name '%.20s...' is longer than %d bytes", where, name, GR_ARRAY_NAME_MAX);
        return NULL;
    }
    if (gr_source_find(src, name) >= 0) {
        gr_fail(ctx, "%s: a second array named '%s'", where, name);
        return NULL;
    }
    int n = src->n_arrays;
    if ((n & (n - 1)) == 0) { /* 0, 1, 2, 4, ...: full, double it */
        struct gr_array_info *grown = gr_calloc(ctx, n ? 2 * (size_t)n : 1, sizeof *grown);
        if (!grown) return NULL;
        if (n) memcpy(grown, src->arrays, (size_t)n * sizeof *grown);
        gr_free(ctx, src->arrays);
        src->arrays = grown;
    }
    struct gr_array_info *a = &src->arrays[n];
    memset(a, 0, sizeof *a);
    memcpy(a->name, name, strlen(name) + 1);
    src->n_arrays = n + 1;
    return a;
}

int64_t gr_source_pread(struct gr_ctx *ctx, const struct gr_source *src, void *buf, size_t n, uint64_t off) {
    size_t got = 0;
    while (got < n) {
        size_t want = n - got > ((size_t)1 << 30) ? (size_t)1 << 30 : n - got;
        ssize_t r = pread(src->fd, (char *)buf + got, want, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return gr_fail(ctx, "%s: read error: %s", src->path, strerror(errno));
        if (r == 0) break;
        got += (size_t)r;
    }
    return (int64_t)got;
}
