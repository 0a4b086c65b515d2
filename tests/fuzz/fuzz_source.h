/* What the reader fuzz targets share: the input becomes an in-memory file
 * (memfd) opened with a format and options; every array the headers declare
 * is read twice, and what was read must keep the readers' promises. */
#ifndef GR_FUZZ_SOURCE_H
#define GR_FUZZ_SOURCE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/base/ctx.h"
#include "runtime/host/host.h"
#include "runtime/data/reader.h"

/* Stored values: floats finite, bools 0 or 1. */
static void fuzz_check_values(const struct gr_array_info *a, const void *data) {
    int64_t n = gr_array_count(a);
    for (int64_t i = 0; i < n; i++) {
        if (a->type == GR_ARRAY_F32 && !isfinite(((const float *)data)[i])) __builtin_trap();
        if (a->elem == GR_ELEM_BOOL && ((const uint8_t *)data)[i] > 1) __builtin_trap();
    }
}

/* Every array, read together and again one by one: the same bytes. */
static void fuzz_read(struct gr_ctx *ctx, struct gr_source *s) {
    void **all = calloc((size_t)s->n_arrays, sizeof *all);
    size_t total = 0;
    for (int k = 0; k < s->n_arrays; k++) {
        const struct gr_array_info *a = &s->arrays[k];
        if (a->rank < 1 || a->rank > GR_ARRAY_MAX_RANK) __builtin_trap();
        for (int i = 0; i < a->rank; i++)
            if (a->dim[i] <= 0) __builtin_trap();
        total += gr_array_bytes(a);
    }
    /* headers are checked against the input: a few MB is all it can promise */
    if (total > ((size_t)64 << 20)) __builtin_trap();
    for (int k = 0; k < s->n_arrays; k++) all[k] = malloc(gr_array_bytes(&s->arrays[k]) + 1);
    if (gr_source_read_all(ctx, s, all) == 0) {
        for (int k = 0; k < s->n_arrays; k++) {
            size_t bytes = gr_array_bytes(&s->arrays[k]);
            fuzz_check_values(&s->arrays[k], all[k]);
            void *again = malloc(bytes + 1);
            if (gr_source_read(ctx, s, k, again, bytes) != 0 || memcmp(again, all[k], bytes) != 0) __builtin_trap();
            free(again);
        }
    } else if (!ctx->err[0] || strchr(ctx->err, '\n')) {
        __builtin_trap(); /* a refusal is one line */
    }
    for (int k = 0; k < s->n_arrays; k++) free(all[k]);
    free(all);
}

static void fuzz_source(const uint8_t *data, size_t size, const char *format, const struct gr_read_opts *opts) {
    int fd = memfd_create("reader", 0);
    if (fd < 0) return;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return;
    }
    struct gr_ctx ctx;
    if (gr_ctx_init(&ctx) == 0) {
        struct gr_source s;
        ctx.err[0] = 0;
        if (gr_source_open_fd(&ctx, &s, fd, "fuzz", format, opts) == 0) {
            if (s.n_arrays < 1) __builtin_trap();
            fuzz_read(&ctx, &s);
            gr_source_close(&ctx, &s);
        } else if (!ctx.err[0] || strchr(ctx.err, '\n')) {
            __builtin_trap();
        }
        gr_ctx_free(&ctx);
    }
    close(fd);
}

#endif
