/* The dataset readers (runtime/data/reader_*.c): the registry, npy and npz
 * on good files written by numpy (tools/make_reader_fixtures.py), the tools
 * that write data for graphrun, files that change after they were opened,
 * and the idx reader on the broken corpus and gzip's variants. The csv
 * reader and the broken npy, npz and csv files are in test_readers_csv.c. */
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
#include "readers_fixture.h"

TestSuite(readers, .init = setup, .fini = teardown);

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
        struct gr_source x, s;
        open_ok(&x, tg_mnist(pairs[i][0]), NULL, NULL);
        open_ok(&s, tmp_path(pairs[i][1]), NULL, NULL);
        cr_expect_eq(s.arrays[0].elem, GR_ELEM_U8);
        expect_shape(&s.arrays[0], x.arrays[0].rank, x.arrays[0].dim);
        uint8_t *v = read_ok(&s, 0), *want = read_ok(&x, 0);
        cr_expect(memcmp(v, want, gr_array_bytes(&x.arrays[0])) == 0, "%s: other bytes than the IDX file",
                  pairs[i][1]);
        free(v);
        free(want);
        gr_source_close(&ctx, &s);
        gr_source_close(&ctx, &x);
    }
}

Test(readers, make_spirals_writes_the_same_two_classes_every_time) {
    char *out = NULL;
    /* the same as a second run, and as the copy configs/spirals_mlp.yaml reads */
    int rc = tg_sh(&out, "python3 '%s/tools/make_spirals.py' '%s/a' && python3 '%s/tools/make_spirals.py' '%s/b' "
                         "--points 1000 && cmp '%s/a/spirals-train.csv' '%s/b/spirals-train.csv' && "
                         "cmp '%s/a/spirals-train.csv' '%s/configs/data/spirals-train.csv' && "
                         "cmp '%s/a/spirals-test.csv' '%s/configs/data/spirals-test.csv' 2>&1",
                   GR_SOURCE_DIR, dir, GR_SOURCE_DIR, dir, dir, dir, dir, GR_SOURCE_DIR, dir, GR_SOURCE_DIR);
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

/* ---- idx: the corpus and gzip's variants -------------------------------------------- */

/* The idx reader accepts `path` with these bytes (want NULL), or refuses it
 * with "PATH: want". */
static void expect_idx(const char *path, const char *want, const uint8_t *bytes, size_t n) {
    struct gr_source s;
    int rc = gr_source_open(&ctx, &s, path, "idx", NULL);
    uint8_t *data = NULL;
    if (!rc) {
        data = malloc(gr_array_bytes(&s.arrays[0]) + 1);
        rc = gr_source_read(&ctx, &s, 0, data, gr_array_bytes(&s.arrays[0]));
        if (!rc && bytes) {
            cr_expect_eq(gr_array_bytes(&s.arrays[0]), n, "%s", path);
            cr_expect(memcmp(data, bytes, n) == 0, "%s: different bytes", path);
        }
    }
    char full[1024];
    snprintf(full, sizeof full, "%s: %s", path, want ? want : "");
    if (want) cr_expect_str_eq(rc ? ctx.err : "(accepted)", full, "expected %s, got %s", full, rc ? ctx.err : "(accepted)");
    else cr_expect_eq(rc, 0, "%s: %s", path, ctx.err);
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

/* The messages graphrun has always given for these files (tests/bad/CASES). */
Test(readers, idx_reader_on_the_corpus) {
    static const struct {
        const char *file, *want;
    } files[] = {
        {"train-images", NULL},
        {"train-labels", NULL},
        {"test-images", NULL},
        {"labels-19", NULL},
        {"truncated-images", "header promises 320 bytes of data, the file has 300 (truncated)"},
        {"trailing-images", "header promises 320 bytes of data, the file has 321 (trailing bytes)"},
        {"liar-images", "IDX dimensions claim more than 68719476736 bytes of data"},
        {"huge-images", "header promises 7840000000 bytes of data, the file has 100 (truncated)"},
        {"text-images", "not an IDX file (magic 50 35 20 74)"},
        {"float-images", "IDX element type 0x0d (float) is not supported; graphrun reads unsigned bytes"},
        {"rank9-images", "IDX rank 9 is out of range (1 to 4)"},
        {"zero-dim-images", "IDX dimension 0 is zero"},
        {"empty-images", "file is empty"},
        {"gz-truncated-images.gz", "truncated: header promises 320 bytes of data, the file has 36"},
        {"gz-garbage-images.gz", "corrupt gzip data: invalid code lengths set"},
        {"gz-short-images.gz", "truncated: header promises 320 bytes of data, the file has 200"},
        {"a-directory", "is a directory, not an IDX file"},
        {"no-such-file", "cannot open: No such file or directory"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, BAD "/%s", files[i].file);
        expect_idx(path, files[i].want, NULL, 0);
    }
}

/* gzip as zlib's gzread reads it: members one after another, anything
 * after the last ignored; a corrupt or cut stream refused. */
Test(readers, idx_reader_on_gzip_variants) {
    uint8_t idx[8 + 300];
    memcpy(idx, (uint8_t[]){0, 0, 8, 1, 0, 0, 1, 44}, 8); /* 300 labels */
    for (int i = 0; i < 300; i++) idx[8 + i] = (uint8_t)(i * 13);
    write_gz(tmp_path("good.gz"), idx, sizeof idx, NULL, 0);
    expect_idx(tmp_path("good.gz"), NULL, idx + 8, 300);
    write_gz(tmp_path("garbage-after.gz"), idx, sizeof idx, "not gzip", 8);
    expect_idx(tmp_path("garbage-after.gz"), NULL, idx + 8, 300);
    write_gz(tmp_path("long.gz"), idx, sizeof idx, NULL, 0);
    size_t n = 0;
    char *one = tg_slurp(tmp_path("long.gz"), &n);
    write_gz(tmp_path("two-members.gz"), idx, 100, NULL, 0);
    FILE *f = fopen(tmp_path("two-members.gz"), "ab");
    gzFile gz = gzdopen(dup(fileno(f)), "ab");
    gzwrite(gz, idx + 100, sizeof idx - 100);
    gzclose(gz);
    fclose(f);
    expect_idx(tmp_path("two-members.gz"), NULL, idx + 8, 300);
    write_gz(tmp_path("one-more.gz"), idx, sizeof idx, NULL, 0);
    f = fopen(tmp_path("one-more.gz"), "ab");
    gz = gzdopen(dup(fileno(f)), "ab");
    gzwrite(gz, "x", 1);
    gzclose(gz);
    fclose(f);
    expect_idx(tmp_path("one-more.gz"), "header promises 300 bytes of data, the file has more (trailing bytes)", NULL, 0);
    one[n - 6] ^= 0x55; /* the stored CRC-32 */
    write_file(tmp_path("bad-crc.gz"), one, n);
    expect_idx(tmp_path("bad-crc.gz"), "corrupt gzip data: incorrect data check", NULL, 0);
    write_file(tmp_path("no-trailer.gz"), one, n - 8);
    /* as gzread: the data is whole, the missing trailer goes unnoticed */
    expect_idx(tmp_path("no-trailer.gz"), NULL, idx + 8, 300);
    free(one);
}
