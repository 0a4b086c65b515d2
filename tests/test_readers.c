/* The dataset readers (runtime/reader_*.c) on good files written by numpy
 * (tools/make_reader_fixtures.py) or by hand (tests/fixtures/csv), and on
 * the broken files of tests/bad/data: each refused with one line that names
 * the file and, for CSV, the line. The idx reader against runtime/idx.c. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "helpers.h"
#include "runtime/data/idx.h"
#include "runtime/data/reader.h"

#define FIX GR_SOURCE_DIR "/tests/fixtures"
#define BAD GR_SOURCE_DIR "/tests/bad/data"

static struct gr_ctx ctx;
static char dir[64];

static void setup(void) {
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    tg_tmpdir(dir, sizeof dir, "readers");
}

static void teardown(void) {
    tg_rmtree(dir);
    gr_ctx_free(&ctx);
}

TestSuite(readers, .init = setup, .fini = teardown);

static const char *tmp_path(const char *name) {
    static char p[4][256]; /* a few paths alive at once */
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void open_ok(struct gr_source *s, const char *path, const char *format, const struct gr_read_opts *o) {
    cr_assert_eq(gr_source_open(&ctx, s, path, format, o), 0, "%s: %s", path, ctx.err);
}

/* Array k read into a fresh buffer (free it). */
static void *read_ok(struct gr_source *s, int k) {
    size_t n = gr_array_bytes(&s->arrays[k]);
    void *buf = malloc(n);
    cr_assert(buf);
    cr_assert_eq(gr_source_read(&ctx, s, k, buf, n), 0, "%s: %s", s->path, ctx.err);
    return buf;
}

static void expect_shape(const struct gr_array_info *a, int rank, const int64_t *dims) {
    cr_assert_eq(a->rank, rank, "%s: rank %d", a->name, a->rank);
    for (int i = 0; i < rank; i++) cr_expect_eq(a->dim[i], dims[i], "%s: dim %d is %lld", a->name, i, (long long)a->dim[i]);
}

/* Open and read every array; the message of whichever step refused. */
static const char *refusal(const char *path, const char *format, const struct gr_read_opts *o) {
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

static void expect_refusal(const char *path, const char *format, const struct gr_read_opts *o, const char *want) {
    const char *got = refusal(path, format, o);
    cr_expect_str_eq(got, want, "%s:\n  expected: %s\n  got:      %s", path, want, got);
    cr_expect(!strchr(got, '\n'), "more than one line: %s", got);
}

/* ---- the registry ---------------------------------------------------------- */

Test(readers, every_reader_is_complete_and_found_by_name) {
    cr_assert_geq(gr_reader_count(), 4);
    for (int i = 0; i < gr_reader_count(); i++) {
        const struct gr_reader_desc *r = gr_reader_at(i);
        cr_expect(r->name && r->what && r->extensions && r->extensions[0] && r->open && r->read && r->close,
                  "reader %d (%s) is incomplete", i, r->name);
        cr_expect_eq(gr_reader_find(r->name), r, "%s", r->name);
        for (int j = 0; j < i; j++) cr_expect_str_neq(r->name, gr_reader_at(j)->name);
    }
    const char *names[] = {"idx", "npy", "npz", "csv"};
    for (int i = 0; i < 4; i++) cr_expect(gr_reader_find(names[i]), "%s", names[i]);
    cr_expect_null(gr_reader_find("parquet"));
}

Test(readers, formats_are_detected_by_content_then_by_name) {
    struct gr_source s;
    /* a .npy file under a .csv name is read as what it is */
    size_t n = 0;
    char *npy = tg_slurp(FIX "/npy/u1.npy", &n);
    cr_assert(npy);
    write_file(tmp_path("really-npy.csv"), npy, n);
    open_ok(&s, tmp_path("really-npy.csv"), NULL, NULL);
    cr_expect_str_eq(s.reader->name, "npy");
    gr_source_close(&ctx, &s);
    free(npy);
    open_ok(&s, FIX "/npz/stored.npz", NULL, NULL);
    cr_expect_str_eq(s.reader->name, "npz");
    gr_source_close(&ctx, &s);
    open_ok(&s, GR_SOURCE_DIR "/tests/bad/data/train-images", NULL, NULL);
    cr_expect_str_eq(s.reader->name, "idx");
    gr_source_close(&ctx, &s);
    open_ok(&s, FIX "/csv/basic.csv", NULL, NULL);
    cr_expect_str_eq(s.reader->name, "csv");
    gr_source_close(&ctx, &s);
    /* text under a name no reader claims: only a given format reads it */
    write_file(tmp_path("table.txt"), "a,b\n1,2\n", 8);
    char want[512];
    snprintf(want, sizeof want,
             "%s: cannot tell the file's format from its name or its first bytes (61 2c 62 0a 31 2c 32 0a); give its "
             "format (one of npy, npz, idx, csv)",
             tmp_path("table.txt"));
    expect_refusal(tmp_path("table.txt"), NULL, NULL, want);
    open_ok(&s, tmp_path("table.txt"), "csv", NULL);
    cr_expect_eq(s.arrays[0].dim[0], 1);
    gr_source_close(&ctx, &s);
    snprintf(want, sizeof want, "%s: unknown format 'parquet' (graphrun reads npy, npz, idx, csv)",
             tmp_path("table.txt"));
    expect_refusal(tmp_path("table.txt"), "parquet", NULL, want);
    snprintf(want, sizeof want, "%s: is a directory, not a .npy file", dir);
    expect_refusal(dir, "npy", NULL, want);
    snprintf(want, sizeof want, "%s: is a directory, not a data file", dir);
    expect_refusal(dir, NULL, NULL, want);
    expect_refusal(BAD "/no-such.npy", NULL, NULL, BAD "/no-such.npy: cannot open: No such file or directory");
}

Test(readers, a_descriptor_the_caller_keeps_is_read_and_left_open) {
    size_t n = 0;
    char *npy = tg_slurp(FIX "/npy/i2-be.npy", &n);
    cr_assert(npy);
    int fd = memfd_create("mem", 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, npy, n), (ssize_t)n);
    free(npy);
    struct gr_source s;
    cr_assert_eq(gr_source_open_fd(&ctx, &s, fd, "in-memory.npy", NULL, NULL), 0, "%s", ctx.err);
    cr_expect_str_eq(s.arrays[0].name, "in-memory");
    int32_t *v = read_ok(&s, 0);
    cr_expect_eq(v[0], 32767);
    free(v);
    gr_source_close(&ctx, &s);
    cr_expect_neq(fcntl(fd, F_GETFD), -1, "the caller's descriptor was closed");
    close(fd);
}

/* ---- npy -------------------------------------------------------------------- */

/* The fixtures' values (tools/make_reader_fixtures.py), recomputed here. */
static int64_t int_value(int i, int is_unsigned, int64_t max, int64_t min) {
    if (i == 0) return max;
    if (i == 1) return min;
    return (i * 37) % 23 - (is_unsigned ? 0 : 11);
}

static float float_value(int i, int f64) {
    if (i == 0) return (float)0.1;
    if (i == 1) return -FLT_MAX;
    if (i == 2 && f64) return (float)1e-45;
    return (float)((i - 5) * 0.375);
}

static const struct {
    const char *file;
    enum gr_elem elem;
    enum gr_endian endian;
    enum gr_array_type type;
    int64_t max, min; /* of the values the type shares with int32 */
} dtypes[] = {
    {"u1.npy", GR_ELEM_U8, GR_ENDIAN_NONE, GR_ARRAY_U8, 255, 0},
    {"b1.npy", GR_ELEM_BOOL, GR_ENDIAN_NONE, GR_ARRAY_U8, 1, 0},
    {"i1.npy", GR_ELEM_I8, GR_ENDIAN_NONE, GR_ARRAY_I32, 127, -128},
    {"u2-le.npy", GR_ELEM_U16, GR_ENDIAN_LITTLE, GR_ARRAY_I32, 65535, 0},
    {"u2-be.npy", GR_ELEM_U16, GR_ENDIAN_BIG, GR_ARRAY_I32, 65535, 0},
    {"i2-le.npy", GR_ELEM_I16, GR_ENDIAN_LITTLE, GR_ARRAY_I32, 32767, -32768},
    {"i2-be.npy", GR_ELEM_I16, GR_ENDIAN_BIG, GR_ARRAY_I32, 32767, -32768},
    {"u4-le.npy", GR_ELEM_U32, GR_ENDIAN_LITTLE, GR_ARRAY_I32, INT32_MAX, 0},
    {"u4-be.npy", GR_ELEM_U32, GR_ENDIAN_BIG, GR_ARRAY_I32, INT32_MAX, 0},
    {"i4-le.npy", GR_ELEM_I32, GR_ENDIAN_LITTLE, GR_ARRAY_I32, INT32_MAX, INT32_MIN},
    {"i4-be.npy", GR_ELEM_I32, GR_ENDIAN_BIG, GR_ARRAY_I32, INT32_MAX, INT32_MIN},
    {"u8-le.npy", GR_ELEM_U64, GR_ENDIAN_LITTLE, GR_ARRAY_I32, INT32_MAX, 0},
    {"u8-be.npy", GR_ELEM_U64, GR_ENDIAN_BIG, GR_ARRAY_I32, INT32_MAX, 0},
    {"i8-le.npy", GR_ELEM_I64, GR_ENDIAN_LITTLE, GR_ARRAY_I32, INT32_MAX, INT32_MIN},
    {"i8-be.npy", GR_ELEM_I64, GR_ENDIAN_BIG, GR_ARRAY_I32, INT32_MAX, INT32_MIN},
    {"f4-le.npy", GR_ELEM_F32, GR_ENDIAN_LITTLE, GR_ARRAY_F32, 0, 0},
    {"f4-be.npy", GR_ELEM_F32, GR_ENDIAN_BIG, GR_ARRAY_F32, 0, 0},
    {"f8-le.npy", GR_ELEM_F64, GR_ENDIAN_LITTLE, GR_ARRAY_F32, 0, 0},
    {"f8-be.npy", GR_ELEM_F64, GR_ENDIAN_BIG, GR_ARRAY_F32, 0, 0},
};

Test(readers, npy_every_dtype_in_both_byte_orders) {
    for (size_t t = 0; t < sizeof dtypes / sizeof dtypes[0]; t++) {
        char path[512];
        snprintf(path, sizeof path, FIX "/npy/%s", dtypes[t].file);
        struct gr_source s;
        open_ok(&s, path, NULL, NULL);
        cr_assert_eq(s.n_arrays, 1);
        const struct gr_array_info *a = &s.arrays[0];
        cr_expect_eq(a->elem, dtypes[t].elem, "%s: elem %s", path, gr_elem_name(a->elem));
        cr_expect_eq(a->endian, dtypes[t].endian, "%s: endian %s", path, gr_endian_name(a->endian));
        cr_expect_eq(a->type, dtypes[t].type, "%s: stored as %s", path, gr_array_type_name(a->type));
        expect_shape(a, 2, (int64_t[]){3, 4});
        void *buf = read_ok(&s, 0);
        for (int i = 0; i < 12; i++) {
            if (a->elem == GR_ELEM_BOOL) {
                cr_expect_eq(((uint8_t *)buf)[i], i % 3 == 0, "%s[%d]", path, i);
            } else if (a->type == GR_ARRAY_U8) {
                cr_expect_eq(((uint8_t *)buf)[i], int_value(i, 1, dtypes[t].max, dtypes[t].min), "%s[%d]", path, i);
            } else if (a->type == GR_ARRAY_I32) {
                int64_t want = int_value(i, dtypes[t].min == 0, dtypes[t].max, dtypes[t].min);
                cr_expect_eq(((int32_t *)buf)[i], want, "%s[%d] = %d, expected %lld", path, i, ((int32_t *)buf)[i],
                             (long long)want);
            } else {
                float want = float_value(i, a->elem == GR_ELEM_F64), got = ((float *)buf)[i];
                cr_expect(memcmp(&want, &got, 4) == 0, "%s[%d] = %a, expected %a", path, i, got, want);
            }
        }
        free(buf);
        gr_source_close(&ctx, &s);
    }
}

static void expect_iota(const char *path, int64_t rank, const int64_t *dims, enum gr_array_type type) {
    struct gr_source s;
    open_ok(&s, path, NULL, NULL);
    const struct gr_array_info *a = &s.arrays[0];
    expect_shape(a, (int)rank, dims);
    cr_assert_eq(a->type, type, "%s", path);
    void *buf = read_ok(&s, 0);
    for (int64_t i = 0; i < gr_array_count(a); i++) {
        double v = type == GR_ARRAY_U8    ? (double)((uint8_t *)buf)[i]
                   : type == GR_ARRAY_I32 ? (double)((int32_t *)buf)[i]
                                          : (double)((float *)buf)[i];
        cr_expect_eq(v, (double)i, "%s[%lld] = %g", path, (long long)i, v);
    }
    free(buf);
    gr_source_close(&ctx, &s);
}

Test(readers, npy_fortran_order_is_transposed_into_c_order) {
    /* C-order values 0..23 of shape (2, 3, 4), stored with axis 0 fastest */
    expect_iota(FIX "/npy/fortran-i4.npy", 3, (int64_t[]){2, 3, 4}, GR_ARRAY_I32);
    expect_iota(FIX "/npy/fortran-f8-be.npy", 3, (int64_t[]){2, 3, 4}, GR_ARRAY_F32);
    expect_iota(FIX "/npz/fortran.npz", 3, (int64_t[]){2, 3, 4}, GR_ARRAY_I32);
}

Test(readers, npy_versions_ranks_and_headers_numpy_does_not_write) {
    const char *files[] = {"v2.npy", "v3.npy", "header-double-quotes.npy", "header-no-spaces.npy",
                           "header-key-order.npy", "header-wide.npy", "header-py2-long.npy"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, FIX "/npy/%s", files[i]);
        expect_iota(path, 2, (int64_t[]){2, 3}, GR_ARRAY_F32);
    }
    expect_iota(FIX "/npy/rank1.npy", 1, (int64_t[]){5}, GR_ARRAY_I32);
    expect_iota(FIX "/npy/rank4.npy", 4, (int64_t[]){2, 1, 3, 2}, GR_ARRAY_U8);
}

/* ---- npz -------------------------------------------------------------------- */

static void expect_x_and_y(const char *path, int has_y) {
    struct gr_source s;
    open_ok(&s, path, NULL, NULL);
    cr_assert_eq(s.n_arrays, 1 + has_y, "%s", path);
    int kx = gr_source_find(&s, "x"), ky = gr_source_find(&s, "y");
    cr_assert_geq(kx, 0, "%s", path);
    expect_shape(&s.arrays[kx], 2, (int64_t[]){2, 3});
    if (has_y) { /* y first: members are read in any order */
        cr_assert_geq(ky, 0, "%s", path);
        cr_expect_eq(s.arrays[ky].elem, GR_ELEM_I64);
        int32_t *y = read_ok(&s, ky);
        cr_expect(y[0] == 0 && y[1] == 1, "%s: y = %d %d", path, y[0], y[1]);
        free(y);
    }
    float *x = read_ok(&s, kx);
    for (int i = 0; i < 6; i++) cr_expect_eq(x[i], (float)i, "%s: x[%d] = %g", path, i, x[i]);
    free(x);
    gr_source_close(&ctx, &s);
}

Test(readers, npz_stored_deflated_commented_and_zip64) {
    expect_x_and_y(FIX "/npz/stored.npz", 1);
    expect_x_and_y(FIX "/npz/compressed.npz", 1);
    expect_x_and_y(FIX "/npz/zip64.npz", 1);
    expect_x_and_y(FIX "/npz/comment.npz", 0);
}

Test(readers, npz_members_larger_than_a_buffer_read_together) {
    struct gr_source s;
    open_ok(&s, FIX "/npz/chunks.npz", NULL, NULL);
    int ka = gr_source_find(&s, "a"), kb = gr_source_find(&s, "b");
    cr_assert(ka >= 0 && kb >= 0);
    expect_shape(&s.arrays[ka], 2, (int64_t[]){50, 60});
    expect_shape(&s.arrays[kb], 3, (int64_t[]){16, 28, 28});
    float *a = malloc(gr_array_bytes(&s.arrays[ka]));
    uint8_t *b = malloc(gr_array_bytes(&s.arrays[kb]));
    void *dst[2];
    dst[ka] = a;
    dst[kb] = b;
    cr_assert_eq(gr_source_read_all(&ctx, &s, dst), 0, "%s", ctx.err);
    for (int i = 0; i < 50 * 60; i++) cr_expect_eq(a[i], (float)((i % 97) * 0.25 - 12), "a[%d] = %g", i, a[i]);
    for (int i = 0; i < 16 * 28 * 28; i++) cr_expect_eq(b[i], i * 7 % 251, "b[%d] = %d", i, b[i]);
    free(a);
    free(b);
    gr_source_close(&ctx, &s);
}

/* ---- csv -------------------------------------------------------------------- */

static void expect_floats(const float *got, const float *want, int n, const char *what) {
    for (int i = 0; i < n; i++) cr_expect_eq(got[i], want[i], "%s[%d] = %g, expected %g", what, i, got[i], want[i]);
}

static void expect_columns(const struct gr_array_info *a, int n, const char *const *names) {
    cr_assert_eq(a->n_columns, n, "%s: %d columns", a->name, a->n_columns);
    for (int i = 0; i < n; i++) cr_expect_str_eq(a->columns[i], names[i], "%s column %d", a->name, i);
}

Test(readers, csv_header_detected_and_the_last_column_as_labels) {
    struct gr_source s;
    struct gr_column last = {NULL, -1};
    open_ok(&s, FIX "/csv/basic.csv", NULL, &(struct gr_read_opts){.label = &last});
    cr_assert_eq(s.n_arrays, 2);
    cr_expect_str_eq(s.arrays[0].name, "features");
    cr_expect_str_eq(s.arrays[1].name, "labels");
    expect_shape(&s.arrays[0], 2, (int64_t[]){3, 2});
    expect_shape(&s.arrays[1], 1, (int64_t[]){3});
    cr_expect_eq(s.arrays[0].type, GR_ARRAY_F32);
    cr_expect_eq(s.arrays[1].type, GR_ARRAY_I32, "labels written as integers are int32");
    expect_columns(&s.arrays[0], 2, (const char *[]){"a", "b"});
    expect_columns(&s.arrays[1], 1, (const char *[]){"label"});
    float *f = read_ok(&s, 0);
    expect_floats(f, (float[]){1, 2, 3.5f, -4, 1000, 0.25f}, 6, "features");
    int32_t *l = read_ok(&s, 1);
    cr_expect(l[0] == 0 && l[1] == 1 && l[2] == 2, "labels %d %d %d", l[0], l[1], l[2]);
    free(f);
    free(l);
    gr_source_close(&ctx, &s);
}

Test(readers, csv_quotes_crlf_bom_and_chosen_columns_by_name) {
    struct gr_source s;
    struct gr_column label = {"label", 0}, feats[] = {{"x, first", 0}, {"y", 0}, {"id", 0}};
    open_ok(&s, FIX "/csv/quoted.csv", NULL, &(struct gr_read_opts){.label = &label, .features = feats, .n_features = 3});
    expect_shape(&s.arrays[0], 2, (int64_t[]){3, 3});
    expect_columns(&s.arrays[0], 3, (const char *[]){"x, first", "y", "id"});
    cr_expect_eq(s.arrays[1].type, GR_ARRAY_I32, "\"4.0\" is an integer");
    float *f = read_ok(&s, 0);
    /* the note column (text with a quoted comma, line break and quotes) is never parsed */
    expect_floats(f, (float[]){0.5f, -1, 1, 1.5f, 20, 2, 2.5f, -0.0f, 3}, 9, "features");
    cr_expect(signbit(f[7]), "\"-0\" keeps its sign");
    int32_t *l = read_ok(&s, 1);
    cr_expect(l[0] == 3 && l[1] == 4 && l[2] == 5, "labels %d %d %d", l[0], l[1], l[2]);
    free(f);
    free(l);
    gr_source_close(&ctx, &s);
}

Test(readers, csv_without_a_header_and_with_header_forced) {
    struct gr_source s;
    struct gr_column first = {NULL, 0};
    open_ok(&s, FIX "/csv/noheader.csv", NULL, &(struct gr_read_opts){.label = &first});
    expect_shape(&s.arrays[0], 2, (int64_t[]){2, 2});
    expect_columns(&s.arrays[0], 2, (const char *[]){"1", "2"});
    float *f = read_ok(&s, 0);
    expect_floats(f, (float[]){2, 3, 5, 6}, 4, "features");
    int32_t *l = read_ok(&s, 1);
    cr_expect(l[0] == 1 && l[1] == 4);
    free(f);
    free(l);
    gr_source_close(&ctx, &s);
    /* told there is a header, the first row names the columns */
    open_ok(&s, FIX "/csv/noheader.csv", NULL, &(struct gr_read_opts){.label = &first, .header = GR_CSV_HEADER_YES});
    expect_shape(&s.arrays[0], 2, (int64_t[]){1, 2});
    expect_columns(&s.arrays[0], 2, (const char *[]){"2", "3"});
    gr_source_close(&ctx, &s);
    /* told there is none, the header's names are cells that are not numbers */
    expect_refusal(FIX "/csv/basic.csv", NULL, &(struct gr_read_opts){.label = &first, .header = GR_CSV_HEADER_NO},
                   FIX "/csv/basic.csv:1: column 0: not a number: 'a'");
}

Test(readers, csv_delimiter_spaces_and_float_labels) {
    struct gr_source s;
    struct gr_column target = {"target", 0};
    open_ok(&s, FIX "/csv/semicolon.csv", NULL, &(struct gr_read_opts){.delimiter = ';', .label = &target});
    cr_expect_eq(s.arrays[1].type, GR_ARRAY_F32, "labels that are not all integers are float32");
    float *f = read_ok(&s, 0), *l = read_ok(&s, 1);
    expect_floats(f, (float[]){1, 2, 3, 4, 5, 6}, 6, "features");
    expect_floats(l, (float[]){0.5f, -1.25f, 1e-3f}, 3, "labels");
    free(f);
    free(l);
    gr_source_close(&ctx, &s);
    open_ok(&s, FIX "/csv/regression.csv", NULL, &(struct gr_read_opts){.label = &target});
    l = read_ok(&s, 1);
    expect_floats(l, (float[]){2.5f, 3, -1}, 3, "labels");
    free(l);
    gr_source_close(&ctx, &s);
}

Test(readers, csv_columns_by_index_and_one_pass_for_both_arrays) {
    struct gr_source s;
    struct gr_column b = {NULL, -2}, feats[] = {{NULL, 2}, {NULL, 0}};
    open_ok(&s, FIX "/csv/basic.csv", NULL, &(struct gr_read_opts){.label = &b, .features = feats, .n_features = 2});
    expect_columns(&s.arrays[0], 2, (const char *[]){"label", "a"});
    expect_columns(&s.arrays[1], 1, (const char *[]){"b"});
    cr_expect_eq(s.arrays[1].type, GR_ARRAY_F32, "0.25 makes the column float32");
    float f[6], l[3];
    cr_assert_eq(gr_source_read_all(&ctx, &s, (void *[]){f, l}), 0, "%s", ctx.err);
    expect_floats(f, (float[]){0, 1, 1, 3.5f, 2, 1000}, 6, "features");
    expect_floats(l, (float[]){2, -4, 0.25f}, 3, "labels");
    gr_source_close(&ctx, &s);
    open_ok(&s, FIX "/csv/no-final-newline.csv", NULL, &(struct gr_read_opts){.label = &b});
    expect_shape(&s.arrays[0], 2, (int64_t[]){2, 1});
    gr_source_close(&ctx, &s);
    /* no label: every column is a feature */
    open_ok(&s, FIX "/csv/basic.csv", NULL, NULL);
    cr_expect_eq(s.n_arrays, 1);
    expect_shape(&s.arrays[0], 2, (int64_t[]){3, 3});
    gr_source_close(&ctx, &s);
}

Test(readers, csv_labels_are_int32_only_when_every_one_is_written_as_an_integer) {
    struct gr_column last = {NULL, -1};
    struct {
        const char *text;
        enum gr_array_type type;
    } cases[] = {
        {"a,y\n1,3\n2,-7\n3,0\n", GR_ARRAY_I32},       {"a,y\n1,3.0\n2,-7.000\n3,+0\n", GR_ARRAY_I32},
        {"a,y\n1,3\n2,3e0\n", GR_ARRAY_F32},           {"a,y\n1,3\n2,2147483648\n", GR_ARRAY_F32},
        {"a,y\n1,-2147483648\n2,2147483647\n", GR_ARRAY_I32}, {"a,y\n1,3\n2,3.5\n", GR_ARRAY_F32},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(tmp_path("labels.csv"), cases[i].text, strlen(cases[i].text));
        struct gr_source s;
        open_ok(&s, tmp_path("labels.csv"), NULL, &(struct gr_read_opts){.label = &last});
        cr_expect_eq(s.arrays[1].type, cases[i].type, "%s", cases[i].text);
        if (cases[i].type == GR_ARRAY_I32 && i == 4) {
            int32_t *l = read_ok(&s, 1);
            cr_expect(l[0] == INT32_MIN && l[1] == INT32_MAX);
            free(l);
        }
        gr_source_close(&ctx, &s);
    }
}

Test(readers, csv_options_that_do_not_fit_the_file) {
    struct gr_column y = {"y", 0}, three = {NULL, 3}, minus4 = {NULL, -4}, label = {"label", 0}, nope = {"nope", 0};
    struct gr_column a2[] = {{"a", 0}, {"a", 0}}, with_label[] = {{"a", 0}, {"label", 0}};
    char want[512];
    expect_refusal(FIX "/csv/noheader.csv", NULL, &(struct gr_read_opts){.label = &y},
                   FIX "/csv/noheader.csv: label column 'y' is given by name, but the file has no header row");
    expect_refusal(FIX "/csv/basic.csv", NULL, &(struct gr_read_opts){.label = &nope},
                   FIX "/csv/basic.csv: no column named 'nope' in the header row");
    expect_refusal(FIX "/csv/basic.csv", NULL, &(struct gr_read_opts){.label = &three},
                   FIX "/csv/basic.csv: label column 3 is out of range: the rows have 3 columns");
    expect_refusal(FIX "/csv/basic.csv", NULL, &(struct gr_read_opts){.label = &minus4},
                   FIX "/csv/basic.csv: label column -4 is out of range: the rows have 3 columns");
    expect_refusal(FIX "/csv/basic.csv", NULL,
                   &(struct gr_read_opts){.label = &label, .features = a2, .n_features = 2},
                   FIX "/csv/basic.csv: column 'a' is chosen twice as a feature");
    expect_refusal(FIX "/csv/basic.csv", NULL,
                   &(struct gr_read_opts){.label = &label, .features = with_label, .n_features = 2},
                   FIX "/csv/basic.csv: column 'label' is the label column, and cannot be a feature too");
    expect_refusal(FIX "/csv/basic.csv", NULL, &(struct gr_read_opts){.label = &label, .delimiter = '.'},
                   FIX "/csv/basic.csv: '.' cannot be a csv delimiter (use ',', ';', a tab, '|' or other punctuation)");
    write_file(tmp_path("twice.csv"), "a,a,label\n1,2,3\n", 16);
    struct gr_column a = {"a", 0};
    snprintf(want, sizeof want, "%s: label column 'a' is ambiguous: columns 0 and 1 have that name",
             tmp_path("twice.csv"));
    expect_refusal(tmp_path("twice.csv"), NULL, &(struct gr_read_opts){.label = &a}, want);
    write_file(tmp_path("one.csv"), "y\n1\n", 4);
    snprintf(want, sizeof want, "%s: no feature columns (the rows have 1 column, one of them the label)",
             tmp_path("one.csv"));
    expect_refusal(tmp_path("one.csv"), NULL, &(struct gr_read_opts){.label = &y}, want);
}

/* Decimal text like people's files hold: integers, fixed point, exponents,
 * leading zeros, long significands. */
static int random_number(char *buf, size_t cap, uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t r = *state >> 11;
    int digits = 1 + (int)(r % 12), point = (int)((r >> 4) % (unsigned)(digits + 2)) - 1;
    int at = 0;
    if ((r >> 8) & 1) buf[at++] = '-';
    for (int i = 0; i < digits; i++) {
        if (i == point) buf[at++] = '.';
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        buf[at++] = (char)('0' + (*state >> 33) % 10);
    }
    if ((r >> 12) % 3 == 0) at += snprintf(buf + at, cap - (size_t)at, "e%d", (int)((r >> 16) % 60) - 40);
    buf[at] = 0;
    return at;
}

Test(readers, csv_numbers_round_exactly_as_strtof) {
    enum { N = 200000 };
    FILE *f = fopen(tmp_path("numbers.csv"), "w");
    cr_assert(f);
    char (*text)[48] = malloc(N * sizeof *text);
    uint64_t state = 14;
    for (int i = 0; i < N; i++) {
        random_number(text[i], sizeof text[i], &state);
        fprintf(f, "%s%s\n", text[i], i % 3 ? "" : "\r"); /* LF and CRLF */
    }
    fclose(f);
    struct gr_source s;
    open_ok(&s, tmp_path("numbers.csv"), NULL, NULL);
    expect_shape(&s.arrays[0], 2, (int64_t[]){N, 1});
    float *v = read_ok(&s, 0);
    int wrong = 0;
    for (int i = 0; i < N; i++) {
        float want = strtof(text[i], NULL);
        if (memcmp(&want, &v[i], 4) != 0 && wrong++ < 5)
            cr_expect(0, "'%s' read as %a, strtof gives %a", text[i], v[i], want);
    }
    cr_expect_eq(wrong, 0, "%d of %d numbers differ from strtof", wrong, N);
    free(v);
    free(text);
    gr_source_close(&ctx, &s);
}

Test(readers, csv_limits_on_fields_and_columns) {
    /* a 70,000-byte field, then a row of 100,001 columns */
    size_t n = 70000 + 32;
    char *text = malloc(2 * 100001 + 32);
    int at = snprintf(text, n, "a,b\n1,");
    memset(text + at, '7', 70000);
    memcpy(text + at + 70000, "\n", 2);
    write_file(tmp_path("long.csv"), text, strlen(text));
    char want[512];
    snprintf(want, sizeof want, "%s:2: column 'b': field longer than 65536 bytes", tmp_path("long.csv"));
    expect_refusal(tmp_path("long.csv"), NULL, NULL, want);
    for (int i = 0; i < 100001; i++) memcpy(text + 2 * i, "1,", 2);
    text[2 * 100001 - 1] = '\n';
    write_file(tmp_path("wide.csv"), text, 2 * 100001);
    snprintf(want, sizeof want, "%s:1: more than 100000 columns", tmp_path("wide.csv"));
    expect_refusal(tmp_path("wide.csv"), NULL, NULL, want);
    free(text);
}

/* ---- the tools that write data for graphrun ---------------------------------- */

Test(readers, make_npy_mnist_writes_the_idx_bytes_as_np_save_does, .timeout = 120) {
    char *out = NULL;
    int rc = tg_sh(&out, "/usr/bin/python3 '%s/tools/make_npy_mnist.py' '%s' '%s' 2>&1", GR_SOURCE_DIR,
                   tg_mnist(""), dir);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "t10k-images.npy: uint8 [10000, 28, 28]"), "%s", out);
    free(out);
    const char *pairs[][2] = {{"t10k-images-idx3-ubyte", "t10k-images.npy"}, {"t10k-labels-idx1-ubyte", "t10k-labels.npy"},
                              {"train-labels-idx1-ubyte", "train-labels.npy"}};
    for (int i = 0; i < 3; i++) {
        struct gr_idx x;
        cr_assert_eq(gr_idx_load(&ctx, tg_mnist(pairs[i][0]), &x), 0, "%s", ctx.err);
        struct gr_source s;
        open_ok(&s, tmp_path(pairs[i][1]), NULL, NULL);
        cr_expect_eq(s.arrays[0].elem, GR_ELEM_U8);
        expect_shape(&s.arrays[0], x.rank, x.dim);
        uint8_t *v = read_ok(&s, 0);
        cr_expect(memcmp(v, x.data, x.bytes) == 0, "%s: other bytes than the IDX file", pairs[i][1]);
        free(v);
        gr_source_close(&ctx, &s);
        gr_idx_free(&ctx, &x);
    }
}

Test(readers, make_spirals_writes_the_same_two_classes_every_time) {
    char *out = NULL;
    int rc = tg_sh(&out, "python3 '%s/tools/make_spirals.py' '%s/a' && python3 '%s/tools/make_spirals.py' '%s/b' "
                         "--points 1000 && cmp '%s/a/spirals-train.csv' '%s/b/spirals-train.csv' 2>&1",
                   GR_SOURCE_DIR, dir, GR_SOURCE_DIR, dir, dir, dir);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    const char *files[] = {"a/spirals-train.csv", "a/spirals-test.csv"};
    const int64_t rows[] = {2000, 1000};
    struct gr_column label = {"label", 0};
    for (int i = 0; i < 2; i++) {
        struct gr_source s;
        open_ok(&s, tmp_path(files[i]), NULL, &(struct gr_read_opts){.label = &label});
        expect_shape(&s.arrays[0], 2, (int64_t[]){rows[i], 2});
        expect_columns(&s.arrays[0], 2, (const char *[]){"x", "y"});
        cr_assert_eq(s.arrays[1].type, GR_ARRAY_I32);
        float *xy = read_ok(&s, 0);
        int32_t *l = read_ok(&s, 1);
        int64_t count[2] = {0};
        for (int64_t k = 0; k < rows[i]; k++) {
            cr_assert(l[k] == 0 || l[k] == 1, "label %d", l[k]);
            count[l[k]]++;
            float r = hypotf(xy[2 * k], xy[2 * k + 1]);
            cr_expect(r < 1.1f, "point %lld at radius %g", (long long)k, r);
        }
        cr_expect(count[0] == rows[i] / 2 && count[1] == rows[i] / 2, "%lld and %lld", (long long)count[0],
                  (long long)count[1]);
        free(xy);
        free(l);
        gr_source_close(&ctx, &s);
    }
}

/* ---- what was checked is what is read ---------------------------------------- */

Test(readers, a_file_that_changes_after_open_is_refused_when_read) {
    size_t n = 0;
    char *npy = tg_slurp(FIX "/npy/f4-le.npy", &n);
    cr_assert(npy);
    write_file(tmp_path("shrinks.npy"), npy, n);
    struct gr_source s;
    open_ok(&s, tmp_path("shrinks.npy"), NULL, NULL);
    cr_assert_eq(truncate(tmp_path("shrinks.npy"), (off_t)n - 4), 0);
    float buf[12];
    cr_expect_eq(gr_source_read(&ctx, &s, 0, buf, sizeof buf), -1);
    char want[512];
    snprintf(want, sizeof want, "%s: header promises 48 bytes of data, the file now has 44 (truncated)",
             tmp_path("shrinks.npy"));
    cr_expect_str_eq(ctx.err, want);
    gr_source_close(&ctx, &s);
    write_file(tmp_path("grows.npy"), npy, n);
    open_ok(&s, tmp_path("grows.npy"), NULL, NULL);
    FILE *f = fopen(tmp_path("grows.npy"), "ab");
    fputs("xyz", f);
    fclose(f);
    cr_expect_eq(gr_source_read(&ctx, &s, 0, buf, sizeof buf), -1);
    snprintf(want, sizeof want, "%s: header promises 48 bytes of data, the file now has 51 (trailing bytes)",
             tmp_path("grows.npy"));
    cr_expect_str_eq(ctx.err, want);
    gr_source_close(&ctx, &s);
    free(npy);
    write_file(tmp_path("grows.csv"), "a,y\n1,0\n2,1\n", 12);
    struct gr_column last = {NULL, -1};
    open_ok(&s, tmp_path("grows.csv"), NULL, &(struct gr_read_opts){.label = &last});
    f = fopen(tmp_path("grows.csv"), "ab");
    fputs("3,2\n", f);
    fclose(f);
    cr_expect_eq(gr_source_read(&ctx, &s, 0, buf, 2 * sizeof(float)), -1);
    snprintf(want, sizeof want, "%s: the file changed after it was opened (it had 2 rows)", tmp_path("grows.csv"));
    cr_expect_str_eq(ctx.err, want);
    gr_source_close(&ctx, &s);
}

/* ---- the broken corpus ---------------------------------------------------------- */

static const struct {
    const char *file, *message; /* the message after the file's path */
} corpus[] = {
    {"npy-truncated.npy", ": header promises 24 bytes of data, the file has 20 (truncated)"},
    {"npy-trailing.npy", ": header promises 24 bytes of data, the file has 25 (trailing bytes)"},
    {"npy-bad-magic.npy", ": not a .npy file (magic 93 4e 55 4d 50 58, expected 93 4e 55 4d 50 59)"},
    {"npy-version-9.npy", ": npy format version 9.0 is not supported (graphrun reads 1.0, 2.0 and 3.0)"},
    {"npy-header-truncated.npy", ": truncated npy header (40 of 128 bytes)"},
    {"npy-lying-shape.npy", ": header promises 3136000000 bytes of data, the file has 24 (truncated)"},
    {"npy-unknown-key.npy",
     ": npy header, byte 68: unknown key 'order' (expected descr, fortran_order and shape)"},
    {"npy-missing-shape.npy", ": npy header has no 'shape' key"},
    {"npy-not-a-tuple.npy", ": npy header, byte 62: expected ',' before ')': a 1-tuple is written (N,), got ')'"},
    {"npy-fortran-maybe.npy", ": npy header, byte 44: expected True or False for fortran_order, got 'M'"},
    {"npy-0d.npy", ": a 0-d array (shape ()) is not a dataset: expected [N, ...]"},
    {"npy-zero-rows.npy", ": dimension 0 of shape [0, 3] is zero"},
    {"npy-object.npy", ": npy dtype '|O' (Python objects) is not supported; graphrun reads b1, u1, i1, u2, i2, u4, "
                       "i4, u8, i8, f4 and f8"},
    {"npy-unicode.npy", ": npy dtype '<U5' (unicode strings) is not supported; graphrun reads b1, u1, i1, u2, i2, "
                        "u4, i4, u8, i8, f4 and f8"},
    {"npy-float16.npy", ": npy dtype '<f2' (floats of that size) is not supported; graphrun reads b1, u1, i1, u2, "
                        "i2, u4, i4, u8, i8, f4 and f8"},
    {"npy-structured.npy",
     ": npy dtype is a structured dtype (a list of fields); graphrun reads arrays of single numbers"},
    {"npy-nan.npy", ": NaN at flat index 5"},
    {"npy-inf-big-endian.npy", ": -infinity at flat index 2"},
    {"npy-float64-overflow.npy", ": float64 value 1.0000000000000001e+300 at flat index 1 is beyond float32's range"},
    {"npy-uint64-too-big.npy", ": uint64 value 2147483648 at flat index 1 does not fit in int32"},
    {"npy-int64-big-endian-too-small.npy", ": int64 value -2147483649 at flat index 0 does not fit in int32"},
    {"npy-bool-2.npy", ": byte 2 at flat index 2 is not a bool (0 or 1)"},
    {"npy-fortran-nan.npy", ": NaN at flat index 2"},
    {"npz-bad-crc.npz", ": member 'x.npy': CRC-32 mismatch: the archive says 2a00e94f, the data gives 2bc28378"},
    {"npz-member-outside.npz",
     ": member 'y.npy': local header at byte 1048576 lies outside the archive's data (bytes 0 to 366)"},
    {"npz-overlap.npz", ": member 'y.npy' (bytes 35 to 214) overlaps member 'x.npy' (bytes 0 to 214)"},
    {"npz-encrypted.npz", ": member 'x.npy': is encrypted; graphrun reads unencrypted archives"},
    {"npz-bzip2.npz",
     ": member 'x.npy': compression method 12 (bzip2) is not supported (graphrun reads stored and deflated)"},
    {"npz-truncated.npz", ": no end of central directory record (a truncated zip archive?)"},
    {"npz-not-zip.npz", ": not a zip archive (magic 78 2c 79 0a, expected 50 4b 03 04)"},
    {"npz-text-member.npz", ": member 'readme.txt': not a .npy file (an npz archive holds NAME.npy members)"},
    {"npz-empty.npz", ": holds no arrays (an empty zip archive)"},
    {"npz-local-name.npz", ": member 'x.npy': local header disagrees with the central directory (name)"},
    {"npz-deflate-corrupt.npz", ": member 'x.npy': corrupt deflate data: invalid code -- missing end-of-block"},
    {"npz-member-nan.npz", ": member 'x.npy': NaN at flat index 3"},
    {"npz-crc-nan.npz", ": member 'x.npy': CRC-32 mismatch: the archive says 2a00e94f, the data gives f99bafd5"},
    {"npz-stored-sizes.npz", ": member 'x.npy': stored, but its compressed size 152 is not its size 160"},
    {"npz-deflate-ratio.npz",
     ": member 'x.npy': claims 1000000000 bytes from 85 compressed bytes, more than deflate can give"},
    {"npz-member-truncated.npz", ": member 'x.npy': header promises 400 bytes of data, the member holds 24 (truncated)"},
    {"npz-deflate-short.npz", ": member 'x.npy': deflate stream ends after 24 of 32 data bytes"},
    {"npz-cdir-offset.npz",
     ": central directory (51 bytes at byte 188) does not end where the end records start (byte 238)"},
    {"npz-multi-disk.npz", ": zip archive spans several disks; graphrun reads single files"},
    {"csv-empty.csv", ": file is empty"},
    {"csv-bom-only.csv", ": no rows (the file holds only a byte-order mark)"},
    {"csv-header-only.csv", ": no data rows after the header"},
    {"csv-ragged.csv", ":3: 2 fields, but the header row has 3"},
    {"csv-too-many-fields.csv", ":3: 4 fields, but the header row has 3"},
    {"csv-empty-line.csv", ":3: empty line (expected 3 fields)"},
    {"csv-not-a-number.csv", ":3: column 'b': not a number: 'abc'"},
    {"csv-label-not-a-number.csv", ":3: column 'label': not a number: 'cat'"},
    {"csv-empty-cell.csv", ":2: column 'b': empty cell, expected a number"},
    {"csv-nan.csv", ":2: column 'b': NaN is not allowed: 'nan'"},
    {"csv-infinity.csv", ":3: column 'a': infinity is not allowed: '-Infinity'"},
    {"csv-overflow.csv", ":2: column 'b': beyond float32's range: '1e39'"},
    {"csv-hex.csv", ":2: column 'a': not a number: '0x10'"},
    {"csv-trailing-garbage.csv", ":2: column 'a': not a number: '1.5abc'"},
    {"csv-unclosed-quote.csv", ":2: column 'b': quoted field is never closed"},
    {"csv-after-quote.csv", ":2: column 'b': 'x' after a closing quote (expected a delimiter or a line end)"},
    {"csv-stray-quote.csv",
     ":2: column 'b': a quote inside an unquoted field (quote the whole field, and double the quote)"},
    {"csv-bare-cr.csv", ":1: a carriage return not followed by a line feed (lines end with LF or CRLF)"},
    {"csv-quoted-newline.csv", ":4: column 'b\\nsecond line': not a number: 'x'"},
};

Test(readers, every_broken_file_is_refused_with_one_line) {
    struct gr_column last = {NULL, -1};
    struct gr_read_opts opts = {.label = &last};
    int per_format[3] = {0};
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        char path[512], want[1024];
        snprintf(path, sizeof path, BAD "/%s", corpus[i].file);
        snprintf(want, sizeof want, "%s%s", path, corpus[i].message);
        expect_refusal(path, NULL, &opts, want);
        per_format[corpus[i].file[2] == 'v' ? 2 : corpus[i].file[2] == 'z']++;
    }
    cr_expect(per_format[0] >= 10 && per_format[1] >= 10 && per_format[2] >= 10, "npy %d, npz %d, csv %d",
              per_format[0], per_format[1], per_format[2]);
}

/* ---- idx: the reader against runtime/idx.c ---------------------------------------- */

/* Both accept with the same shape and bytes, or refuse with the same line. */
static void expect_same_as_idx_c(const char *path) {
    struct gr_idx x;
    int old = gr_idx_load(&ctx, path, &x);
    char old_err[GR_ERRBUF];
    snprintf(old_err, sizeof old_err, "%s", ctx.err);
    struct gr_source s;
    int rc = gr_source_open(&ctx, &s, path, "idx", NULL);
    uint8_t *data = NULL;
    if (!rc) {
        data = malloc(gr_array_bytes(&s.arrays[0]) + 1);
        rc = gr_source_read(&ctx, &s, 0, data, gr_array_bytes(&s.arrays[0]));
    }
    cr_expect_eq(rc, old, "%s: idx.c says %s, the reader %s", path, old ? old_err : "yes", rc ? ctx.err : "yes");
    if (old && rc) cr_expect_str_eq(ctx.err, old_err, "%s", path);
    if (!old && !rc) {
        cr_expect_eq(s.arrays[0].rank, x.rank, "%s", path);
        for (int i = 0; i < x.rank; i++) cr_expect_eq(s.arrays[0].dim[i], x.dim[i], "%s", path);
        cr_expect_eq(gr_array_bytes(&s.arrays[0]), x.bytes, "%s", path);
        cr_expect(memcmp(data, x.data, x.bytes) == 0, "%s: different bytes", path);
    }
    if (!old) gr_idx_free(&ctx, &x);
    free(data);
    gr_source_close(&ctx, &s);
}

static void write_gz(const char *path, const void *a, size_t na, const char *extra, size_t ne) {
    gzFile gz = gzopen(path, "wb");
    cr_assert(gz);
    gzwrite(gz, a, (unsigned)na);
    gzclose(gz);
    if (!ne) return;
    FILE *f = fopen(path, "ab");
    fwrite(extra, 1, ne, f);
    fclose(f);
}

Test(readers, idx_reader_agrees_with_idx_c_on_the_corpus_and_gzip_variants) {
    const char *files[] = {"train-images", "train-labels", "test-images", "truncated-images", "trailing-images",
                           "liar-images", "huge-images", "text-images", "float-images", "rank9-images",
                           "zero-dim-images", "empty-images", "gz-truncated-images.gz", "gz-garbage-images.gz",
                           "gz-short-images.gz", "labels-19", "a-directory", "no-such-file"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, BAD "/%s", files[i]);
        expect_same_as_idx_c(path);
    }
    uint8_t idx[8 + 300];
    memcpy(idx, (uint8_t[]){0, 0, 8, 1, 0, 0, 1, 44}, 8); /* 300 labels */
    for (int i = 0; i < 300; i++) idx[8 + i] = (uint8_t)(i * 13);
    write_gz(tmp_path("good.gz"), idx, sizeof idx, NULL, 0);
    expect_same_as_idx_c(tmp_path("good.gz"));
    write_gz(tmp_path("garbage-after.gz"), idx, sizeof idx, "not gzip", 8);
    expect_same_as_idx_c(tmp_path("garbage-after.gz"));
    write_gz(tmp_path("long.gz"), idx, sizeof idx, NULL, 0);
    size_t n = 0;
    char *one = tg_slurp(tmp_path("long.gz"), &n);
    write_gz(tmp_path("two-members.gz"), idx, 100, NULL, 0);
    FILE *f = fopen(tmp_path("two-members.gz"), "ab");
    gzFile gz = gzdopen(dup(fileno(f)), "ab");
    gzwrite(gz, idx + 100, sizeof idx - 100);
    gzclose(gz);
    fclose(f);
    expect_same_as_idx_c(tmp_path("two-members.gz"));
    write_gz(tmp_path("one-more.gz"), idx, sizeof idx, NULL, 0);
    f = fopen(tmp_path("one-more.gz"), "ab");
    gz = gzdopen(dup(fileno(f)), "ab");
    gzwrite(gz, "x", 1);
    gzclose(gz);
    fclose(f);
    expect_same_as_idx_c(tmp_path("one-more.gz"));
    one[n - 6] ^= 0x55; /* the stored CRC-32 */
    write_file(tmp_path("bad-crc.gz"), one, n);
    expect_same_as_idx_c(tmp_path("bad-crc.gz"));
    write_file(tmp_path("no-trailer.gz"), one, n - 8);
    expect_same_as_idx_c(tmp_path("no-trailer.gz"));
    free(one);
}

Test(readers, idx_reader_reads_mnist_like_idx_c) {
    char path[1024];
    snprintf(path, sizeof path, "%s", tg_mnist("t10k-images-idx3-ubyte"));
    expect_same_as_idx_c(path);
    snprintf(path, sizeof path, "%s", tg_mnist("t10k-labels-idx1-ubyte"));
    expect_same_as_idx_c(path);
}
