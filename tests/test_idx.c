/* The idx reader on good, truncated, lying and hostile files, raw and
 * gzipped, and on files that change between their check and their read;
 * a session whose data file is swapped between its checks and its read. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "helpers.h"
#include "runtime/config/config.h"
#include "runtime/data/dataset.h"
#include "runtime/data/reader.h"
#include "models/open.h"
#include "runtime/session/evaluate.h"

static char dir[64];

static void setup(void) { tg_tmpdir(dir, sizeof dir, "idx"); }

static void teardown(void) { tg_rmtree(dir); }

TestSuite(idx, .init = setup, .fini = teardown);

static const char *path_of(const char *name) {
    static char p[256]; /* one path at a time in this test */
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

/* header for unsigned-byte data of the given dims */
static size_t header(uint8_t *h, int rank, const uint32_t *dims) {
    h[0] = h[1] = 0;
    h[2] = 0x08;
    h[3] = (uint8_t)rank;
    for (int i = 0; i < rank; i++) {
        h[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        h[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        h[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        h[7 + 4 * i] = (uint8_t)dims[i];
    }
    return 4 + 4 * (size_t)rank;
}

static void write_file(const char *name, const void *a, size_t na, const void *b, size_t nb) {
    FILE *f = fopen(path_of(name), "wb");
    cr_assert(f);
    fwrite(a, 1, na, f);
    if (nb) fwrite(b, 1, nb, f);
    fclose(f);
}

static void write_gz(const char *name, const void *a, size_t na, const void *b, size_t nb) {
    gzFile gz = gzopen(path_of(name), "wb");
    cr_assert(gz);
    gzwrite(gz, a, (unsigned)na);
    if (nb) gzwrite(gz, b, (unsigned)nb);
    gzclose(gz);
}

/* Open `path` as IDX and read its array into a fresh buffer (*data, NULL
 * on failure; free it); 0 or -1. */
static int load(struct gr_ctx *ctx, const char *path, struct gr_array_info *info, uint8_t **data) {
    struct gr_source src;
    *data = NULL;
    if (gr_source_open(ctx, &src, path, "idx", NULL)) return -1;
    *info = src.arrays[0];
    size_t n = gr_array_bytes(info);
    *data = malloc(n);
    cr_assert(*data);
    int rc = gr_source_read(ctx, &src, 0, *data, n);
    gr_source_close(ctx, &src);
    if (rc) {
        free(*data);
        *data = NULL;
    }
    return rc;
}

/* load `name` and expect failure with `msg` in the error */
static void expect_error(const char *name, const char *msg) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_array_info a;
    uint8_t *data;
    cr_expect_eq(load(&ctx, path_of(name), &a, &data), -1, "%s was accepted", name);
    cr_expect(strstr(ctx.err, msg) != NULL, "%s:\n  expected: %s\n  got:      %s", name, msg, ctx.err);
    gr_ctx_free(&ctx);
}

Test(idx, a_good_file_raw_and_gzipped) {
    uint8_t h[20], data[3 * 2 * 2];
    for (int i = 0; i < 12; i++) data[i] = (uint8_t)(i * 20);
    size_t hl = header(h, 3, (uint32_t[]){3, 2, 2});
    write_file("good", h, hl, data, sizeof data);
    write_gz("good.gz", h, hl, data, sizeof data);
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    const char *names[] = {"good", "good.gz"};
    for (int k = 0; k < 2; k++) {
        struct gr_array_info x;
        uint8_t *got;
        cr_assert_eq(load(&ctx, path_of(names[k]), &x, &got), 0, "%s", ctx.err);
        cr_expect_eq(x.rank, 3);
        cr_expect_eq(x.dim[0], 3);
        cr_expect_eq(x.dim[2], 2);
        cr_expect_eq(gr_array_bytes(&x), 12);
        cr_expect_arr_eq(got, data, 12);
        free(got);
    }
    gr_ctx_free(&ctx);
}

Test(idx, truncated_and_padded_files) {
    uint8_t h[20], data[100] = {0};
    size_t hl = header(h, 3, (uint32_t[]){4, 5, 5});
    write_file("short", h, hl, data, 99);
    expect_error("short", "header promises 100 bytes of data, the file has 99 (truncated)");
    write_file("long", h, hl, data, 100);
    FILE *f = fopen(path_of("long"), "ab");
    fputc(7, f);
    fclose(f);
    expect_error("long", "header promises 100 bytes of data, the file has 101 (trailing bytes)");
    write_gz("short.gz", h, hl, data, 60);
    expect_error("short.gz", "truncated: header promises 100 bytes of data, the file has 60");
    write_file("half-header", h, 9, NULL, 0);
    expect_error("half-header", "truncated IDX header (9 of 16 bytes)");
}

Test(idx, a_header_that_lies_about_its_size_fails_before_allocating) {
    uint8_t h[20], data[1000] = {0};
    /* 2^31 images of 28x28 claimed in a 1 KB file */
    size_t hl = header(h, 3, (uint32_t[]){0x80000000u, 28, 28});
    write_file("liar", h, hl, data, sizeof data);
    expect_error("liar", "IDX dimensions claim more than 68719476736 bytes of data");
    write_gz("liar.gz", h, hl, data, sizeof data);
    expect_error("liar.gz", "IDX dimensions claim more than");
    /* 10 million images: a plausible size, but not in this file */
    hl = header(h, 3, (uint32_t[]){10000000u, 28, 28});
    write_file("liar2", h, hl, data, sizeof data);
    expect_error("liar2", "header promises 7840000000 bytes of data, the file has 1000 (truncated)");
    write_gz("liar2.gz", h, hl, data, sizeof data);
    expect_error("liar2.gz", "header promises 7840000000 bytes, more than a");
    hl = header(h, 4, (uint32_t[]){0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu});
    write_file("overflow", h, hl, data, 10);
    expect_error("overflow", "IDX dimensions claim more than");
}

Test(idx, not_idx_at_all) {
    write_file("text", "hello world, not an IDX file", 28, NULL, 0);
    expect_error("text", "not an IDX file (magic 68 65 6c 6c)");
    uint8_t h[8] = {0, 0, 0x0D, 1, 0, 0, 0, 1};
    write_file("floats", h, 8, "abcd", 4);
    expect_error("floats", "IDX element type 0x0d (float) is not supported");
    uint8_t r[8] = {0, 0, 0x08, 9, 0, 0, 0, 1};
    write_file("rank9", r, 8, NULL, 0);
    expect_error("rank9", "IDX rank 9 is out of range (1 to 4)");
    uint8_t z[8] = {0, 0, 0x08, 1, 0, 0, 0, 0};
    write_file("zero", z, 8, NULL, 0);
    expect_error("zero", "IDX dimension 0 is zero");
    write_file("empty", "", 0, NULL, 0);
    expect_error("empty", "file is empty");
    cr_assert_eq(mkdir(path_of("a-dir"), 0700), 0);
    expect_error("a-dir", "is a directory, not an IDX file");
    expect_error("missing", "cannot open: No such file or directory");
    /* gzip magic followed by garbage */
    write_file("bad.gz", "\x1f\x8b\x08\x00garbage garbage garbage", 28, NULL, 0);
    expect_error("bad.gz", "");
}

Test(idx, images_and_labels_must_agree) {
    uint8_t h[20], data[2 * 4] = {0}, lab[3] = {0, 1, 2};
    size_t hl = header(h, 3, (uint32_t[]){2, 2, 2});
    write_file("img", h, hl, data, sizeof data);
    hl = header(h, 1, (uint32_t[]){3});
    write_file("lab", h, hl, lab, 3);
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_dataset d;
    memset(&d, 0, sizeof d);
    char img[256], lb[256];
    snprintf(img, sizeof img, "%s", path_of("img"));
    snprintf(lb, sizeof lb, "%s", path_of("lab"));
    cr_assert_eq(gr_dataset_add(&ctx, &d, &(struct gr_dataset_file){img, "idx", "images", NULL}), 0, "%s", ctx.err);
    cr_expect_eq(gr_dataset_add(&ctx, &d, &(struct gr_dataset_file){lb, "idx", "labels", NULL}), -1);
    cr_expect(strstr(ctx.err, "lab: 3 labels, but") && strstr(ctx.err, "img holds 2 images"), "got: %s", ctx.err);
    gr_dataset_free(&ctx, &d);
    gr_ctx_free(&ctx);
}

Test(idx, the_mnist_files_when_present) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_dataset d;
    memset(&d, 0, sizeof d);
    char img[1024];
    snprintf(img, sizeof img, "%s", tg_mnist("t10k-images-idx3-ubyte"));
    cr_assert_eq(gr_dataset_add(&ctx, &d, &(struct gr_dataset_file){img, NULL, "images", NULL}), 0,
                 "%s (run tools/fetch_mnist.sh first)", ctx.err);
    cr_assert_eq(gr_dataset_add(&ctx, &d, &(struct gr_dataset_file){tg_mnist("t10k-labels-idx1-ubyte"), NULL,
                                                                      "labels", NULL}),
                 0, "%s", ctx.err);
    cr_expect_eq(d.n, 10000);
    cr_expect_eq(d.arrays[0].per_sample, 784);
    cr_expect_eq(d.arrays[0].info.type, GR_ARRAY_U8, "bytes stay bytes");
    d.arrays[0].wanted = d.arrays[0].keep = d.arrays[1].wanted = d.arrays[1].keep = 1;
    int bad;
    cr_assert_eq(gr_dataset_read(&ctx, &d, &bad), 0, "%s", ctx.err);
    cr_expect_eq(gr_dataset_int(&d, 1, 0), 7, "the first test digit is a 7");
    cr_expect_eq(gr_dataset_find_outside(&d, 1, d.n, 10), -1, "labels 0 to 9");
    cr_expect_eq(gr_dataset_find_outside(&d, 1, d.n, 9) >= 0, 1, "a 9 among them");
    /* pixels scale to [0, 1] */
    float px[784];
    int32_t idx = 0;
    gr_dataset_floats(&d, 0, &idx, 1, 0.0f, 1.0f, px);
    float lo = 1, hi = 0;
    for (int i = 0; i < 784; i++) {
        lo = px[i] < lo ? px[i] : lo;
        hi = px[i] > hi ? px[i] : hi;
    }
    cr_expect_float_eq(lo, 0.0f, 0.0f);
    cr_expect_float_eq(hi, 1.0f, 1e-7f);
    gr_dataset_free(&ctx, &d);
    gr_ctx_free(&ctx);
}

/* An IDX file of n images of side x side (pixel i of the file is i % 251). */
static void write_images(const char *name, uint32_t n, uint32_t side, int gz) {
    uint8_t h[20], px[4096];
    size_t hl = header(h, 3, (uint32_t[]){n, side, side}), len = (size_t)n * side * side;
    cr_assert_leq(len, sizeof px);
    for (size_t i = 0; i < len; i++) px[i] = (uint8_t)(i % 251);
    if (gz) write_gz(name, h, hl, px, len);
    else write_file(name, h, hl, px, len);
}

Test(idx, a_file_replaced_after_its_check_is_read_as_it_was_checked) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    const char *names[2] = {"img", "img.gz"};
    for (int gz = 0; gz < 2; gz++) {
        char path[256];
        snprintf(path, sizeof path, "%s", path_of(names[gz]));
        write_images(names[gz], 3, 2, gz);
        struct gr_source src;
        cr_assert_eq(gr_source_open(&ctx, &src, path, NULL, NULL), 0, "%s", ctx.err);
        /* another file, four times the data, renamed over the checked one */
        write_images("bigger", 20, 4, gz);
        cr_assert_eq(rename(path_of("bigger"), path), 0);
        cr_expect_eq(gr_array_bytes(&src.arrays[0]), 12);
        uint8_t got[12];
        cr_assert_eq(gr_source_read(&ctx, &src, 0, got, sizeof got), 0, "%s", ctx.err);
        cr_expect_eq(src.arrays[0].dim[0], 3);
        for (int i = 0; i < 12; i++) cr_expect_eq(got[i], i % 251);
        gr_source_close(&ctx, &src);
    }
    gr_ctx_free(&ctx);
}

Test(idx, a_file_changed_in_place_after_its_check_is_refused) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    char path[256];
    snprintf(path, sizeof path, "%s", path_of("img"));
    struct gr_source src;
    uint8_t got[12];
    /* cut short: the read ends early */
    write_images("img", 3, 2, 0);
    cr_assert_eq(gr_source_open(&ctx, &src, path, NULL, NULL), 0, "%s", ctx.err);
    cr_assert_eq(truncate(path, 16 + 5), 0);
    cr_expect_eq(gr_source_read(&ctx, &src, 0, got, sizeof got), -1);
    cr_expect(strstr(ctx.err, "img: the file changed after its header was checked: it now ends after 5 of the 12 bytes"),
              "got: %s", ctx.err);
    gr_source_close(&ctx, &src);
    /* grown: the read takes the checked 12 bytes, and notices */
    write_images("img", 3, 2, 0);
    cr_assert_eq(gr_source_open(&ctx, &src, path, NULL, NULL), 0, "%s", ctx.err);
    FILE *f = fopen(path, "ab");
    cr_assert_not_null(f);
    fputs("more bytes", f);
    fclose(f);
    cr_expect_eq(gr_source_read(&ctx, &src, 0, got, sizeof got), -1);
    cr_expect(strstr(ctx.err, "img: the file changed while graphrun was reading it (28 bytes, then 38)"), "got: %s",
              ctx.err);
    gr_source_close(&ctx, &src);
    gr_ctx_free(&ctx);
}

/* The test hook between a session's checks and its reads: replace (rename
 * over) or cut short the file at `target`. */
struct swap {
    char target[256], with[256];
    int cut, calls;
};

static void swap_file(void *ud, const char *path) {
    struct swap *sw = ud;
    if (strcmp(path, sw->target) != 0) return;
    sw->calls++;
    if (sw->cut) cr_assert_eq(truncate(sw->target, sw->cut), 0);
    else cr_assert_eq(rename(sw->with, sw->target), 0);
}

static void open_swapped(struct gr_ctx *ctx, struct gr_config *cfg, struct gr_session *s, struct swap *sw, int *rc) {
    write_images("train-images", 20, 4, 0);
    write_images("test-images", 10, 4, 0);
    uint8_t h[8], labels[20];
    for (int i = 0; i < 20; i++) labels[i] = (uint8_t)(i % 3);
    size_t hl = header(h, 1, (uint32_t[]){20});
    write_file("train-labels", h, hl, labels, 20);
    hl = header(h, 1, (uint32_t[]){10});
    write_file("test-labels", h, hl, labels, 10);
    char text[2048];
    snprintf(text, sizeof text,
             "data:\n"
             "  train: {images: %s/train-images, labels: %s/train-labels}\n"
             "  test: {images: %s/test-images, labels: %s/test-labels}\n"
             "graph:\n"
             "  - {name: image, op: input, data: images, shape: [16]}\n"
             "  - {name: label, op: input, data: labels}\n"
             "  - {name: logits, op: dense, inputs: [image], units: 3}\n"
             "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n"
             "train: {loss: loss, optimizer: {name: sgd, lr: 0.1}, batch_size: 4, steps: 10}\n"
             "eval: {logits: logits, batch_size: 4}\n",
             dir, dir, dir, dir);
    cr_assert_eq(gr_ctx_init(ctx), 0);
    cr_assert_eq(gr_config_parse(ctx, cfg, "swap.yaml", "", text, strlen(text)), 0, "%s", ctx->err);
    ctx->data_hook = swap_file;
    ctx->data_hook_ud = sw;
    struct gr_session_opts opts = {.threads = 1};
    *rc = gr_session_open(ctx, s, cfg, &opts);
}

/* A training set swapped for one of 8x8 images after graphrun checked it
 * against the graph's [16] input: what is read is what was checked, so no
 * batch can be written past its buffer. */
Test(idx, a_data_file_replaced_between_check_and_read_cannot_overrun_a_batch) {
    struct gr_ctx ctx;
    struct gr_config cfg;
    struct gr_session s;
    struct swap sw = {.cut = 0};
    snprintf(sw.target, sizeof sw.target, "%s", path_of("train-images"));
    snprintf(sw.with, sizeof sw.with, "%s", path_of("bigger"));
    write_images("bigger", 20, 8, 0);
    int rc;
    open_swapped(&ctx, &cfg, &s, &sw, &rc);
    cr_assert_eq(rc, 0, "%s", ctx.err);
    cr_expect_eq(sw.calls, 1, "the hook ran between the check and the read");
    cr_assert_eq(s.train.arrays[0].per_sample, 16, "the images read are not the ones checked");
    cr_assert_eq(s.train.n, 20);
    for (int i = 0; i < 12; i++) cr_expect(isfinite(gr_session_step(&s)));
    cr_expect_geq(gr_session_accuracy(&s, &s.test_set, s.test_set.n), 0.0);
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);

    /* cut short in place: refused, at the config key */
    write_images("bigger", 20, 8, 0);
    sw.cut = 16 + 100;
    sw.calls = 0;
    open_swapped(&ctx, &cfg, &s, &sw, &rc);
    cr_expect_eq(rc, -1);
    cr_expect(strstr(ctx.err, "swap.yaml:2:19: data.train: ") &&
                  strstr(ctx.err, "train-images: the file changed after its header was checked"),
              "got: %s", ctx.err);
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}
