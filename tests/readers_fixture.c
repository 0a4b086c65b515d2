/* What the reader suites share: a context and a scratch folder per test,
 * and opening, reading and refusing files with the messages checked. */
#include "readers_fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

struct gr_ctx ctx;
char dir[64];

void setup(void) {
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    tg_tmpdir(dir, sizeof dir, "readers");
}

void teardown(void) {
    tg_rmtree(dir);
    gr_ctx_free(&ctx);
}

const char *tmp_path(const char *name) {
    static char p[4][256]; /* a few paths alive at once */
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

void open_ok(struct gr_source *s, const char *path, const char *format, const struct gr_read_opts *o) {
    cr_assert_eq(gr_source_open(&ctx, s, path, format, o), 0, "%s: %s", path, ctx.err);
}

void *read_ok(struct gr_source *s, int k) {
    size_t n = gr_array_bytes(&s->arrays[k]);
    void *buf = malloc(n);
    cr_assert(buf);
    cr_assert_eq(gr_source_read(&ctx, s, k, buf, n), 0, "%s: %s", s->path, ctx.err);
    return buf;
}

void expect_shape(const struct gr_array_info *a, int rank, const int64_t *dims) {
    cr_assert_eq(a->rank, rank, "%s: rank %d", a->name, a->rank);
    for (int i = 0; i < rank; i++) cr_expect_eq(a->dim[i], dims[i], "%s: dim %d is %lld", a->name, i, (long long)a->dim[i]);
}

const char *refusal(const char *path, const char *format, const struct gr_read_opts *o) {
    struct gr_source s;
    if (gr_source_open(&ctx, &s, path, format, o)) return ctx.err;
    void **dst = calloc((size_t)s.n_arrays, sizeof *dst);
    for (int k = 0; k < s.n_arrays; k++) dst[k] = malloc(gr_array_bytes(&s.arrays[k]));
    int rc = gr_source_read_all(&ctx, &s, dst);
    for (int k = 0; k < s.n_arrays; k++) free(dst[k]);
    free(dst);
    gr_source_close(&ctx, &s);
    cr_expect_eq(rc, -1, "%s was accepted", path);
    return rc ? ctx.err : "";
}

void expect_refusal(const char *path, const char *format, const struct gr_read_opts *o, const char *want) {
    const char *got = refusal(path, format, o);
    cr_expect_str_eq(got, want, "%s:\n  expected: %s\n  got:      %s", path, want, got);
    cr_expect(!strchr(got, '\n'), "more than one line: %s", got);
}

void expect_columns(const struct gr_array_info *a, int n, const char *const *names) {
    cr_assert_eq(a->n_columns, n, "%s: %d columns", a->name, a->n_columns);
    for (int i = 0; i < n; i++) cr_expect_str_eq(a->columns[i], names[i], "%s column %d", a->name, i);
}
