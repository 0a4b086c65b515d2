#include "runtime/data/dataset.h"

#include <stdio.h>
#include <string.h>

#include "runtime/base/ctx.h"

static int64_t per_sample(const struct gr_array_info *a) {
    int64_t n = 1;
    for (int i = 1; i < a->rank; i++) n *= a->dim[i];
    return n;
}

/* "a, b, c" of a source's array names, for messages. */
static void array_names(const struct gr_source *src, char *buf, size_t len) {
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < src->n_arrays && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? ", " : "", src->arrays[i].name);
}

/* Every array of a dataset describes the same samples. The pair graphrun
 * has always read keeps its words. */
static int count_mismatch(struct gr_ctx *ctx, const struct gr_dataset *d, const char *path, const char *name,
                          int64_t rows) {
    const struct gr_data_array *first = &d->arrays[0];
    const char *first_path = d->src[first->file].path;
    if (!strcmp(name, "labels") && !strcmp(first->info.name, "images"))
        return gr_fail(ctx, "%s: %lld labels, but %s holds %lld images", path, (long long)rows, first_path,
                       (long long)d->rows);
    return gr_fail(ctx, "%s: %lld samples in array '%s', but %s holds %lld in array '%s'", path, (long long)rows, name,
                   first_path, (long long)d->rows, first->info.name);
}

/* Array k of source src joins d, called `name`. */
static int join(struct gr_ctx *ctx, struct gr_dataset *d, int file, int k, const char *name) {
    const struct gr_source *src = &d->src[file];
    const struct gr_array_info *a = &src->arrays[k];
    if (gr_dataset_find(d, name) >= 0)
        return gr_fail(ctx, "%s: a second array named '%s' (the first is from %s)", src->path, name,
                       gr_dataset_path(d, gr_dataset_find(d, name)));
    if (a->dim[0] > INT32_MAX) return gr_fail(ctx, "%s: more than %d samples", src->path, INT32_MAX);
    if (!strcmp(name, "images") && a->rank < 2) /* a list of values is not a list of images */
        return gr_fail(ctx, "%s: images need at least 2 axes (count, then the image's), this file has %d", src->path,
                       a->rank);
    if (d->n_arrays > 0 && a->dim[0] != d->rows) return count_mismatch(ctx, d, src->path, name, a->dim[0]);
    struct gr_data_array *grown = gr_calloc(ctx, (size_t)d->n_arrays + 1, sizeof *grown);
    if (!grown) return -1;
    if (d->n_arrays) memcpy(grown, d->arrays, (size_t)d->n_arrays * sizeof *grown);
    gr_free(ctx, d->arrays);
    d->arrays = grown;
    struct gr_data_array *x = &d->arrays[d->n_arrays++];
    x->info = *a;
    x->info.columns = NULL; /* the source's, freed with it */
    x->info.n_columns = 0;
    snprintf(x->info.name, sizeof x->info.name, "%s", name);
    x->file = file;
    x->k = k;
    x->per_sample = per_sample(a);
    d->rows = d->n = a->dim[0];
    return 0;
}

int gr_dataset_add(struct gr_ctx *ctx, struct gr_dataset *d, const struct gr_dataset_file *f) {
    GR_ASSERT(!d->read);
    if (d->n_files == GR_DATASET_MAX_FILES)
        return gr_fail(ctx, "%s: a dataset reads at most %d files", f->path, GR_DATASET_MAX_FILES);
    struct gr_source *src = &d->src[d->n_files];
    if (gr_source_open(ctx, src, f->path, f->format, f->opts)) return -1;
    d->n_files++;
    if (f->name && src->n_arrays != 1) {
        char names[256];
        array_names(src, names, sizeof names);
        return gr_fail(ctx, "%s: holds %d arrays (%s), not one to call '%s'; name the file as a dataset's `file` to "
                            "read its arrays by their own names",
                       src->path, src->n_arrays, names, f->name);
    }
    for (int k = 0; k < src->n_arrays; k++)
        if (join(ctx, d, d->n_files - 1, k, f->name ? f->name : src->arrays[k].name)) return -1;
    return 0;
}

void gr_dataset_limit(struct gr_dataset *d, int64_t limit) {
    if (limit > 0 && limit < d->rows) d->n = limit;
}

int gr_dataset_find(const struct gr_dataset *d, const char *name) {
    for (int k = 0; k < d->n_arrays; k++)
        if (strcmp(d->arrays[k].info.name, name) == 0) return k;
    return -1;
}

const char *gr_dataset_path(const struct gr_dataset *d, int k) { return d->src[d->arrays[k].file].path; }

/* One file's wanted arrays, in one pass of its reader. */
static int read_file(struct gr_ctx *ctx, struct gr_dataset *d, int file) {
    struct gr_source *src = &d->src[file];
    void **all = gr_calloc(ctx, (size_t)src->n_arrays, sizeof *all);
    if (!all) return -1;
    int any = 0, rc = 0;
    for (int k = 0; k < d->n_arrays && rc == 0; k++) {
        struct gr_data_array *x = &d->arrays[k];
        if (x->file != file || !x->wanted) continue;
        size_t bytes = gr_array_bytes(&x->info);
        if (!(x->data = gr_alloc(ctx, bytes ? bytes : 1))) rc = -1;
        all[x->k] = x->data;
        any = 1;
    }
    if (rc == 0 && any) {
        if (ctx->data_hook) ctx->data_hook(ctx->data_hook_ud, src->path);
        rc = gr_source_read_all(ctx, src, all);
    }
    gr_free(ctx, all);
    for (int k = 0; k < d->n_arrays; k++) {
        struct gr_data_array *x = &d->arrays[k];
        if (x->file == file && (rc || !x->keep)) {
            gr_free(ctx, x->data);
            x->data = NULL;
        }
    }
    return rc;
}

int gr_dataset_read(struct gr_ctx *ctx, struct gr_dataset *d, int *bad) {
    GR_ASSERT(!d->read);
    for (int f = 0; f < d->n_files; f++)
        if (read_file(ctx, d, f)) return *bad = f, -1;
    /* the arrays' infos are copies: the files can go */
    for (int f = 0; f < d->n_files; f++) {
        char *path = d->src[f].path;
        const struct gr_reader_desc *reader = d->src[f].reader;
        d->src[f].path = NULL;
        gr_source_close(ctx, &d->src[f]);
        d->src[f].path = path; /* the arrays' files and formats, for messages */
        d->src[f].reader = reader;
    }
    d->read = 1;
    return 0;
}

size_t gr_dataset_bytes(const struct gr_dataset *d) {
    size_t n = 0;
    for (int k = 0; k < d->n_arrays; k++)
        if (d->arrays[k].wanted) n += gr_array_bytes(&d->arrays[k].info);
    return n;
}

void gr_dataset_free(struct gr_ctx *ctx, struct gr_dataset *d) {
    for (int f = 0; f < d->n_files; f++) {
        if (d->read) gr_free(ctx, d->src[f].path);
        else gr_source_close(ctx, &d->src[f]);
    }
    for (int k = 0; k < d->n_arrays; k++) gr_free(ctx, d->arrays[k].data);
    gr_free(ctx, d->arrays);
    memset(d, 0, sizeof *d);
}

int32_t gr_dataset_int(const struct gr_dataset *d, int k, int64_t i) {
    const struct gr_data_array *x = &d->arrays[k];
    GR_ASSERT(x->data && x->info.type != GR_ARRAY_F32);
    return x->info.type == GR_ARRAY_U8 ? ((const uint8_t *)x->data)[i] : ((const int32_t *)x->data)[i];
}

int64_t gr_dataset_find_outside(const struct gr_dataset *d, int k, int64_t n, int64_t limit) {
    int64_t count = n * d->arrays[k].per_sample;
    for (int64_t i = 0; i < count; i++) {
        int32_t v = gr_dataset_int(d, k, i);
        if (v < 0 || v >= limit) return i;
    }
    return -1;
}

void gr_bytes_to_floats(const uint8_t *src, int64_t n, float lo, float hi, float *dst) {
    float scale = (hi - lo) / 255.0f;
    for (int64_t j = 0; j < n; j++) dst[j] = lo + scale * (float)src[j];
}

#define PREFETCH_ROWS 4

void gr_dataset_floats(const struct gr_dataset *d, int k, const int32_t *rows, int64_t n, float lo, float hi,
                       float *dst) {
    const struct gr_data_array *x = &d->arrays[k];
    int64_t s = x->per_sample;
    GR_ASSERT(x->data && x->info.type != GR_ARRAY_I32);
    size_t size = x->info.type == GR_ARRAY_U8 ? 1 : sizeof(float);
    for (int64_t r = 0; r < n; r++) {
        int64_t at = (int64_t)rows[r] * s;
        /* shuffled rows lie anywhere in the array (47 MB for MNIST's
         * images): ask for the lines of rows a few ahead while this one
         * converts (the first rows' too, at the start; up to 4 KB each) */
        for (int64_t q = r == 0 ? 1 : r + PREFETCH_ROWS; q <= r + PREFETCH_ROWS && q < n; q++) {
            const char *next = (const char *)x->data + (size_t)rows[q] * (size_t)s * size;
            for (size_t o = 0; o < (size_t)s * size && o < 4096; o += 64) __builtin_prefetch(next + o);
        }
        if (x->info.type == GR_ARRAY_U8) gr_bytes_to_floats((const uint8_t *)x->data + at, s, lo, hi, dst + r * s);
        else memcpy(dst + r * s, (const float *)x->data + at, (size_t)s * sizeof *dst);
    }
}

void gr_dataset_ints(const struct gr_dataset *d, int k, const int32_t *rows, int64_t n, int32_t *dst) {
    const struct gr_data_array *x = &d->arrays[k];
    int64_t s = x->per_sample;
    GR_ASSERT(x->data && x->info.type != GR_ARRAY_F32);
    for (int64_t r = 0; r < n; r++) {
        int64_t at = (int64_t)rows[r] * s;
        if (x->info.type == GR_ARRAY_I32) {
            memcpy(dst + r * s, (const int32_t *)x->data + at, (size_t)s * sizeof *dst);
        } else {
            const uint8_t *b = (const uint8_t *)x->data + at;
            for (int64_t j = 0; j < s; j++) dst[r * s + j] = b[j];
        }
    }
}
