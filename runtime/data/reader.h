/* Dataset files: one reader per format, each a descriptor in its own file
 * (runtime/reader_<name>.c), listed once in runtime/reader.c.
 *
 *     struct gr_source src;
 *     if (gr_source_open(ctx, &src, "train.npz", NULL, NULL)) return -1;  // headers only
 *     int k = gr_source_find(&src, "images");                             // or -1
 *     ... check src.arrays[k] (type, rank, dims) against the model ...
 *     void *buf = gr_alloc(ctx, gr_array_bytes(&src.arrays[k]));
 *     if (!buf || gr_source_read(ctx, &src, k, buf, gr_array_bytes(&src.arrays[k]))) ...
 *     gr_source_close(ctx, &src);
 *
 * Opening reads and checks only headers (every size and offset against the
 * file's size) and fills one gr_array_info per array, allocating nothing
 * in proportion to the data. Reading decodes one or more arrays straight
 * into the caller's buffers, and fails if the file turns out to hold more
 * or less than its headers said, or a value graphrun refuses (array.h).
 * Every failure is one line in ctx->err that starts with the file's name. */
#ifndef GR_READER_H
#define GR_READER_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/data/array.h"

struct gr_ctx;

/* Reader options. Only the csv reader takes any; the others ignore them. */
enum gr_csv_header { GR_CSV_HEADER_AUTO, GR_CSV_HEADER_YES, GR_CSV_HEADER_NO };

/* A column by name (name != NULL; needs a header row) or by 0-based index,
 * negative counting from the end (-1 is the last column). */
struct gr_column {
    const char *name;
    int64_t index;
};

struct gr_read_opts {
    char delimiter;               /* 0: ',' */
    enum gr_csv_header header;    /* AUTO: a header if any cell of the first row is not a number */
    const struct gr_column *label; /* NULL: no labels array */
    const struct gr_column *features; /* NULL: every column but the label */
    int n_features;
};

struct gr_source;

struct gr_reader_desc {
    const char *name;               /* what a config's `format:` names */
    const char *what;               /* for messages: "a .npy file" */
    const char *const *extensions;  /* NULL-terminated, lower case, with the dot */
    /* 1 if the file's first n bytes (n <= GR_SNIFF_BYTES) are this format's;
     * NULL: the format is only known by extension or by name. */
    int (*sniff)(const uint8_t *head, size_t n);
    /* Check the headers of src->fd (src->size bytes) and add the arrays
     * (gr_source_add); keep what read needs in src->state. */
    int (*open)(struct gr_ctx *ctx, struct gr_source *src, const struct gr_read_opts *opts);
    /* Fill dst[k] (gr_array_bytes(&src->arrays[k]) bytes) for every k whose
     * dst[k] is not NULL. May be called again; reads with pread only. */
    int (*read)(struct gr_ctx *ctx, struct gr_source *src, void *const *dst);
    /* Free src->state (the arrays are freed by gr_source_close). */
    void (*close)(struct gr_ctx *ctx, struct gr_source *src);
};

#define GR_SNIFF_BYTES 64

/* An open dataset file. */
struct gr_source {
    const struct gr_reader_desc *reader;
    char *path;   /* as given; starts every message */
    int fd;
    int own_fd;   /* opened by gr_source_open: closed by gr_source_close */
    uint64_t size; /* from fstat when opened */
    int64_t mtime_ns; /* likewise: a read that finds either changed fails */
    int n_arrays;
    struct gr_array_info *arrays;
    void *state;
};

/* Open `path` and check its headers. `format` names a reader, or NULL to
 * detect it: by the first bytes, else by the extension. opts NULL: none. */
int gr_source_open(struct gr_ctx *ctx, struct gr_source *src, const char *path, const char *format,
                   const struct gr_read_opts *opts);
/* The same over a descriptor the caller keeps (memfd, pipe-less files);
 * `name` is what messages call it. */
int gr_source_open_fd(struct gr_ctx *ctx, struct gr_source *src, int fd, const char *name, const char *format,
                      const struct gr_read_opts *opts);
/* Index of the array called `name`, or -1. */
int gr_source_find(const struct gr_source *src, const char *name);
/* Read array k into dst, which holds `bytes` == gr_array_bytes(&src->arrays[k]).
 * Reads fail if the file's size or modification time changed since it was
 * opened (a file renamed over the path is not read: the descriptor holds the
 * one that was checked). */
int gr_source_read(struct gr_ctx *ctx, struct gr_source *src, int k, void *dst, size_t bytes);
/* Read several arrays in one pass: dst has src->n_arrays entries, NULL to skip. */
int gr_source_read_all(struct gr_ctx *ctx, struct gr_source *src, void *const *dst);
void gr_source_close(struct gr_ctx *ctx, struct gr_source *src);

/* The registry. */
int gr_reader_count(void);
const struct gr_reader_desc *gr_reader_at(int i);
const struct gr_reader_desc *gr_reader_find(const char *name);
/* The reader for a file whose first n bytes are `head`: the first whose
 * sniff says yes, else the first claiming the path's extension; NULL if none. */
const struct gr_reader_desc *gr_reader_detect(const char *path, const uint8_t *head, size_t n);

/* ---- for readers ---------------------------------------------------------- */

/* A new array named `name` (refused if longer than GR_ARRAY_NAME_MAX or
 * already taken); NULL with the message set. */
struct gr_array_info *gr_source_add(struct gr_ctx *ctx, struct gr_source *src, const char *where, const char *name);
/* pread until n bytes or the end of the file: the count read, or -1 with
 * "PATH: read error: ..." recorded. */
int64_t gr_source_pread(struct gr_ctx *ctx, const struct gr_source *src, void *buf, size_t n, uint64_t off);

#endif
