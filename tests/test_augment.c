/* Augmentation of training images (runtime/data/augment.c): a sample's
 * draws for a fixed seed and the pixels they move, worked out by hand; a
 * quarter turn and an erased rectangle; the training feed augmenting each
 * sample by its draw number; and an augmented run resumed from a
 * checkpoint, bit for bit the unbroken run. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "ops/core.h"
#include "runtime/config/config.h"
#include "runtime/data/augment.h"
#include "runtime/session/checkpoint.h"
#include "runtime/session/session.h"

static char dir[64];

static void setup(void) { tg_tmpdir(dir, sizeof dir, "augment"); }

static void teardown(void) { tg_rmtree(dir); }

TestSuite(augment, .init = setup, .fini = teardown, .timeout = 240);

/* 1..16, row by row */
static const uint8_t image[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void expect_pixels(const float *got, const float *want, int n, float tol, const char *what) {
    for (int i = 0; i < n; i++)
        cr_expect(fabsf(got[i] - want[i]) <= tol, "%s: pixel %d is %g, expected %g", what, i, got[i], want[i]);
}

/* Seed 7, shift 1: draw 1 moves the image one row down and one column left,
 * draw 2 one row up and one column right (below(3) - 1 twice, from the
 * sample's xoshiro256** seeded with splitmix64 of
 * ((7 ^ "augment") * 0x9e3779b97f4a7c15) ^ draw, computed apart from
 * graphrun). The pixels that arrive from outside are 0. */
Test(augment, a_shift_moves_the_bytes_as_worked_out_by_hand) {
    struct gr_augment a = {.shift = 1, .seed = 7};
    struct gr_augment_draw d1, d2;
    gr_augment_draw(&a, 4, 4, 1, &d1);
    gr_augment_draw(&a, 4, 4, 2, &d2);
    cr_expect(d1.dy == 1 && d1.dx == -1, "draw 1: (%lld, %lld)", (long long)d1.dy, (long long)d1.dx);
    cr_expect(d2.dy == -1 && d2.dx == 1, "draw 2: (%lld, %lld)", (long long)d2.dy, (long long)d2.dx);
    cr_expect(d1.angle == 0 && !d1.erase && d2.angle == 0 && !d2.erase);
    float out[16];
    gr_augment_apply(&d1, GR_ARRAY_U8, image, 4, 4, 1, 0.0f, 255.0f, out);
    expect_pixels(out, (float[]){0, 0, 0, 0, 2, 3, 4, 0, 6, 7, 8, 0, 10, 11, 12, 0}, 16, 0, "down and left");
    gr_augment_apply(&d2, GR_ARRAY_U8, image, 4, 4, 1, 0.0f, 255.0f, out);
    expect_pixels(out, (float[]){0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 0, 0, 0}, 16, 0, "up and right");
    /* bytes become floats exactly as an unaugmented batch's: lo + (hi - lo) / 255 * byte */
    struct gr_augment_draw none = {0};
    gr_augment_apply(&none, GR_ARRAY_U8, image, 4, 4, 1, -1.0f, 1.0f, out);
    for (int i = 0; i < 16; i++) cr_expect_eq(out[i], -1.0f + 2.0f / 255.0f * (float)image[i]);
}

/* out(p) = src(R(-90 degrees)(p - c) + c) on a 3x3 image about its centre
 * (1, 1): out(y, x) = src(2 - x, y), a quarter turn clockwise. */
Test(augment, a_quarter_turn_and_an_erased_rectangle) {
    const float src[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    struct gr_augment_draw d = {.angle = 90};
    float out[16];
    gr_augment_apply(&d, GR_ARRAY_F32, src, 3, 3, 1, 0, 1, out);
    expect_pixels(out, (float[]){7, 4, 1, 8, 5, 2, 9, 6, 3}, 9, 1e-5f, "quarter turn");
    /* two channels turn together */
    const float two[8] = {1, 10, 2, 20, 3, 30, 4, 40};
    gr_augment_apply(&d, GR_ARRAY_F32, two, 2, 2, 2, 0, 1, out);
    expect_pixels(out, (float[]){3, 30, 1, 10, 4, 40, 2, 20}, 8, 1e-5f, "quarter turn, 2 channels");
    /* rows 1-2, columns 1-2 erased to byte 0's value */
    struct gr_augment_draw e = {.erase = 1, .ey = 1, .ex = 1, .eh = 2, .ew = 2};
    gr_augment_apply(&e, GR_ARRAY_U8, image, 4, 4, 1, 0.5f, 1.0f, out);
    for (int i = 0; i < 16; i++) {
        int y = i / 4, x = i % 4, in = y >= 1 && y <= 2 && x >= 1 && x <= 2;
        cr_expect_eq(out[i], in ? 0.5f : 0.5f + 0.5f / 255.0f * (float)image[i], "pixel %d", i);
    }
}

/* Every draw stays in its ranges, and the same draw number draws the same. */
Test(augment, draws_stay_in_range_and_repeat) {
    struct gr_augment a = {.shift = 3, .rotate = 12.5, .erase_p = 0.5, .erase_lo = 0.1, .erase_hi = 0.3, .seed = 11};
    int erased = 0;
    for (int64_t k = 0; k < 2000; k++) {
        struct gr_augment_draw d, again;
        gr_augment_draw(&a, 28, 20, k, &d);
        gr_augment_draw(&a, 28, 20, k, &again);
        cr_assert(memcmp(&d, &again, sizeof d) == 0, "draw %lld twice", (long long)k);
        cr_assert(llabs(d.dy) <= 3 && llabs(d.dx) <= 3 && fabs(d.angle) <= 12.5);
        if (!d.erase) continue;
        erased++;
        cr_assert(d.eh >= 1 && d.ew >= 1 && d.ey >= 0 && d.ex >= 0 && d.ey + d.eh <= 28 && d.ex + d.ew <= 20,
                  "rectangle %lld+%lld, %lld+%lld", (long long)d.ey, (long long)d.eh, (long long)d.ex,
                  (long long)d.ew);
    }
    cr_expect(erased > 850 && erased < 1150, "%d of 2000 erased at p = 0.5", erased);
}

struct run {
    struct gr_ctx ctx;
    struct gr_config cfg;
    struct gr_session s;
};

static void open_run(struct run *r, const char *text, const char *const *sets, int n_sets) {
    cr_assert_eq(gr_ctx_init(&r->ctx), 0);
    cr_assert_eq(gr_config_parse_ex(&r->ctx, &r->cfg, "aug.yaml", "", text, strlen(text), sets, n_sets), 0, "%s",
                 r->ctx.err);
    struct gr_session_opts opts = {.threads = 2};
    cr_assert_eq(gr_session_open(&r->ctx, &r->s, &r->cfg, &opts), 0, "%s", r->ctx.err);
}

static void close_run(struct run *r) {
    gr_session_close(&r->s);
    gr_config_free(&r->ctx, &r->cfg);
    gr_ctx_free(&r->ctx);
}

/* Sample k of a training batch is its row's image moved by draw number
 * (samples handed out before the batch) + k; 8 images of 4x4, 0..255 kept
 * as is by the pixel range. */
Test(augment, the_training_feed_moves_each_sample_by_its_draw) {
    uint8_t px[8 * 16], lab[8];
    for (int i = 0; i < 8 * 16; i++) px[i] = (uint8_t)(i + 1);
    for (int i = 0; i < 8; i++) lab[i] = (uint8_t)(i % 2);
    char img[128], lb[128], text[2048];
    snprintf(img, sizeof img, "%s/img", dir);
    snprintf(lb, sizeof lb, "%s/lab", dir);
    tg_write_idx(img, 3, (uint32_t[]){8, 4, 4}, px);
    tg_write_idx(lb, 1, (uint32_t[]){8}, lab);
    snprintf(text, sizeof text,
             "data:\n"
             "  train: {images: %s, labels: %s, augment: {shift: 1}}\n"
             "  test: {images: %s, labels: %s}\n"
             "  pixel_range: [0, 255]\n"
             "graph:\n"
             "  - {name: image, op: input, data: images, shape: [16]}\n"
             "  - {name: label, op: input, data: labels}\n"
             "  - {name: logits, op: dense, inputs: [image], units: 2}\n"
             "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n"
             "train: {loss: loss, optimizer: {name: sgd, lr: 1e-9}, batch_size: 3, steps: 4, seed: 7}\n",
             img, lb, img, lb);
    struct run r;
    open_run(&r, text, NULL, 0);
    int in = -1;
    for (int i = 0; i < r.s.g.n; i++)
        if (!strcmp(r.s.g.nodes[i].name, "image")) in = i;
    for (int step = 0; step < 4; step++) { /* 12 draws: the 8 images of an epoch, then a new order */
        gr_session_step(&r.s);
        const float *fed = r.s.tp.val[in].data;
        for (int k = 0; k < 3; k++) {
            int64_t draw = 3 * step + k, row = r.s.idx[k];
            struct gr_augment_draw d;
            gr_augment_draw(&r.s.aug, 4, 4, draw, &d);
            for (int y = 0; y < 4; y++)
                for (int x = 0; x < 4; x++) {
                    int64_t sy = y - d.dy, sx = x - d.dx;
                    float want = sy < 0 || sy > 3 || sx < 0 || sx > 3 ? 0.0f : (float)px[row * 16 + sy * 4 + sx];
                    cr_expect_eq(fed[k * 16 + y * 4 + x], want, "draw %lld, row %lld, pixel (%d, %d)",
                                 (long long)draw, (long long)row, y, x);
                }
            if (draw == 1) cr_expect(d.dy == 1 && d.dx == -1, "draw 1 of seed 7, as in the test above");
        }
    }
    close_run(&r);
}

/* An augmented run saved at step 12 and resumed in a fresh session draws
 * what the unbroken run drew: the same losses, bit for bit. */
Test(augment, an_augmented_run_resumes_bit_exactly) {
    char text[4096], ckpt[128];
    tg_small_config(text, sizeof text, 16, 100, "{name: adam, lr: 0.01}", NULL, 50);
    snprintf(ckpt, sizeof ckpt, "%s/a.safetensors", dir);
    const char *sets[] = {"data.train.augment={shift: 2, rotate: 10, erase: {p: 0.5, area: [0.02, 0.2]}}"};
    float straight[30], resumed[18];
    struct run r;
    open_run(&r, text, sets, 1);
    cr_assert_geq(r.s.aug_array, 0, "augmented");
    for (int i = 0; i < 30; i++) straight[i] = gr_session_step(&r.s);
    close_run(&r);
    open_run(&r, text, sets, 1);
    for (int i = 0; i < 12; i++) gr_session_step(&r.s);
    cr_assert_eq(gr_checkpoint_save(&r.s, 12, ckpt), 0, "%s", r.ctx.err);
    close_run(&r);
    open_run(&r, text, sets, 1);
    int64_t step = -1;
    cr_assert_eq(gr_checkpoint_load(&r.s, ckpt, &step), 0, "%s", r.ctx.err);
    for (int i = 0; i < 18; i++) resumed[i] = gr_session_step(&r.s);
    close_run(&r);
    cr_expect_arr_eq(resumed, straight + 12, sizeof resumed, "losses after resuming equal the unbroken run's");
    /* and augmentation changed them: the same run without it */
    open_run(&r, text, NULL, 0);
    float plain[30];
    for (int i = 0; i < 30; i++) plain[i] = gr_session_step(&r.s);
    close_run(&r);
    cr_expect(memcmp(plain + 1, straight + 1, sizeof plain - sizeof plain[0]) != 0, "augmentation changed nothing");
}
