/* The fused lstm op against a plain step-by-step LSTM written from the
 * equations in double precision, for the outputs and for every gradient
 * (the reference's gradients by central differences in double). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "ops/lstm_back.h"
#include "ops/lstm_cell.h"
#include "ops/util.h"

/* H = 20: the 16-wide vector path and a scalar tail of 4 */
enum { B = 3, T = 5, I = 4, H = 20, G = 4 * H };

/* h[b][t][j] from x[b][t][i], kernel [(I + H), 4H] (gate blocks i, f, g, o), bias [4H] */
static void reference(const double *x, const double *w, const double *bias, double fb, double *out) {
    for (int b = 0; b < B; b++) {
        double h[H] = {0}, c[H] = {0};
        for (int t = 0; t < T; t++) {
            double z[G];
            for (int k = 0; k < G; k++) {
                z[k] = bias[k];
                for (int i = 0; i < I; i++) z[k] += x[(b * T + t) * I + i] * w[i * G + k];
                for (int j = 0; j < H; j++) z[k] += h[j] * w[(I + j) * G + k];
            }
            for (int j = 0; j < H; j++) {
                double ig = 1 / (1 + exp(-z[j])), fg = 1 / (1 + exp(-(z[H + j] + fb)));
                double gg = tanh(z[2 * H + j]), og = 1 / (1 + exp(-z[3 * H + j]));
                c[j] = fg * c[j] + ig * gg;
                h[j] = og * tanh(c[j]);
                out[(b * T + t) * H + j] = h[j];
            }
        }
    }
}

/* L = sum r * h, the scalar whose gradient both sides compute */
static double ref_loss(const double *x, const double *w, const double *bias, double fb, const double *r) {
    double out[B * T * H], l = 0;
    reference(x, w, bias, fb, out);
    for (int k = 0; k < B * T * H; k++) l += r[k] * out[k];
    return l;
}

struct fixture {
    struct tgraph t;
    struct gr_harness h;
    double x[B * T * I], w[(I + H) * G], bias[G], r[B * T * H];
};

static void setup_lstm(struct fixture *f, int training) {
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "- {name: x, op: input, data: images, shape: [%d, %d]}\n"
             "- {name: y, op: lstm, inputs: [x], num_units: %d, forget_bias: 0.5}\n", T, I, H);
    cr_assert_eq(tg_build(&f->t, yaml, B), 0, "%s", f->t.ctx.err);
    cr_assert_eq(gr_harness_init(&f->h, &f->t.g, tg_node(&f->t, "y"), training), 0, "%s", f->t.ctx.err);
    struct gr_rng rng;
    gr_rng_seed(&rng, 7);
    /* weights larger than Glorot's so every gate saturates somewhere */
    for (int k = 0; k < B * T * I; k++) f->x[k] = 2.0 * gr_rng_uniform(&rng) - 1.0;
    for (int k = 0; k < (I + H) * G; k++) f->w[k] = 1.6 * gr_rng_uniform(&rng) - 0.8;
    for (int k = 0; k < G; k++) f->bias[k] = gr_rng_uniform(&rng) - 0.5;
    for (int k = 0; k < B * T * H; k++) f->r[k] = 2.0 * gr_rng_uniform(&rng) - 1.0;
    float *hx = f->h.in[0].data, *hw = f->h.in[1].data, *hb = f->h.in[2].data, *hr = f->h.dout.data;
    for (int k = 0; k < B * T * I; k++) hx[k] = (float)f->x[k];
    for (int k = 0; k < (I + H) * G; k++) hw[k] = (float)f->w[k];
    for (int k = 0; k < G; k++) hb[k] = (float)f->bias[k];
    for (int k = 0; k < B * T * H; k++) hr[k] = (float)f->r[k];
    /* the reference sees exactly the float values the op sees */
    for (int k = 0; k < B * T * I; k++) f->x[k] = hx[k];
    for (int k = 0; k < (I + H) * G; k++) f->w[k] = hw[k];
    for (int k = 0; k < G; k++) f->bias[k] = hb[k];
    for (int k = 0; k < B * T * H; k++) f->r[k] = hr[k];
}

static void check_forward(int training) {
    struct fixture f;
    setup_lstm(&f, training);
    gr_harness_forward(&f.h);
    double want[B * T * H];
    reference(f.x, f.w, f.bias, 0.5, want);
    const float *y = f.h.out.data;
    double worst = 0;
    for (int k = 0; k < B * T * H; k++) worst = fmax(worst, fabs(y[k] - want[k]));
    cr_expect_lt(worst, 2e-6, "largest difference from the reference: %g", worst);
    gr_harness_free(&f.h);
    tg_free(&f.t);
}

Test(lstm, forward_matches_the_step_by_step_reference_when_training) { check_forward(1); }

Test(lstm, forward_matches_the_step_by_step_reference_when_evaluating) { check_forward(0); }

/* d(sum r*h)/d(param) for the reference, by central differences in double */
static double ref_grad(struct fixture *f, double *v, int k) {
    const double step = 1e-6;
    double keep = v[k];
    v[k] = keep + step;
    double lp = ref_loss(f->x, f->w, f->bias, 0.5, f->r);
    v[k] = keep - step;
    double lm = ref_loss(f->x, f->w, f->bias, 0.5, f->r);
    v[k] = keep;
    return (lp - lm) / (2 * step);
}

static void expect_grads(struct fixture *f, double *v, const float *got, int n, const char *what) {
    double worst = 0;
    int at = 0;
    for (int k = 0; k < n; k++) {
        double want = ref_grad(f, v, k);
        double err = fabs(got[k] - want) / (1e-4 + fabs(want));
        if (err > worst) {
            worst = err;
            at = k;
        }
    }
    cr_expect_lt(worst, 1e-3, "%s: element %d is off by %.3g (relative)", what, at, worst);
}

Test(lstm, gradients_match_the_reference) {
    struct fixture f;
    setup_lstm(&f, 1);
    gr_harness_forward(&f.h);
    gr_harness_backward(&f.h);
    expect_grads(&f, f.x, f.h.din[0].data, B * T * I, "d/dx");
    expect_grads(&f, f.w, f.h.din[1].data, (I + H) * G, "d/dkernel");
    expect_grads(&f, f.bias, f.h.din[2].data, G, "d/dbias");
    gr_harness_free(&f.h);
    tg_free(&f.t);
}

/* ---- the fused op against the same LSTM composed of primitive ops -------- */

#include "runtime/engine/plan.h"

enum { UB = 6, UT = 5, UI0 = 3, UI = 7, UH = 18, UG = 4 * UH };

/* Shared front and back: xin [B, T, I0] -> dense -> [B, T, I] -> (lstm) -> y,
 * loss = mean(y * r). The dense layer in front makes dx part of the check. */
static int emit_front(char *s, size_t len) {
    return snprintf(s, len,
                    "- {name: xin, op: input, data: images, shape: [%d, %d]}\n"
                    "- {name: r, op: input, data: images, shape: [%d, %d]}\n"
                    "- {name: x, op: dense, inputs: [xin], units: %d}\n",
                    UT, UI0, UT, UH, UI);
}

static void emit_back(char *s, size_t len) {
    snprintf(s, len, "- {name: yr, op: mul, inputs: [y, r]}\n- {name: loss, op: mean, inputs: [yr]}\n");
}

static void fused_yaml(char *s, size_t len) {
    int n = emit_front(s, len);
    n += snprintf(s + n, len - (size_t)n, "- {name: y, op: lstm, inputs: [x], num_units: %d}\n", UH);
    emit_back(s + n, len - (size_t)n);
}

/* one LSTM step per block of nodes, as the equations read */
static void unfused_yaml(char *s, size_t len) {
    int n = emit_front(s, len);
#define EMIT(...) n += snprintf(s + n, len - (size_t)n, __VA_ARGS__)
    EMIT("- {name: wx, op: param, shape: [%d, %d]}\n", UI, UG);
    EMIT("- {name: wh, op: param, shape: [%d, %d]}\n", UH, UG);
    EMIT("- {name: b, op: param, shape: [%d]}\n", UG);
    EMIT("- {name: fb, op: param, shape: [%d], init: ones, trainable: false}\n", UH);
    for (int t = 0; t < UT; t++) {
        EMIT("- {name: x%d, op: slice, inputs: [x], axis: 1, index: %d}\n", t, t);
        EMIT("- {name: zx%d, op: matmul, inputs: [x%d, wx]}\n", t, t);
        if (t > 0) {
            EMIT("- {name: zh%d, op: matmul, inputs: [h%d, wh]}\n", t, t - 1);
            EMIT("- {name: zs%d, op: add, inputs: [zx%d, zh%d]}\n", t, t, t);
        }
        EMIT("- {name: z%d, op: add, inputs: [%s%d, b]}\n", t, t > 0 ? "zs" : "zx", t);
        EMIT("- {name: pi%d, op: slice, inputs: [z%d], axis: 1, begin: 0, end: %d}\n", t, t, UH);
        EMIT("- {name: pf%d, op: slice, inputs: [z%d], axis: 1, begin: %d, end: %d}\n", t, t, UH, 2 * UH);
        EMIT("- {name: pg%d, op: slice, inputs: [z%d], axis: 1, begin: %d, end: %d}\n", t, t, 2 * UH, 3 * UH);
        EMIT("- {name: po%d, op: slice, inputs: [z%d], axis: 1, begin: %d}\n", t, t, 3 * UH);
        EMIT("- {name: pfb%d, op: add, inputs: [pf%d, fb]}\n", t, t);
        EMIT("- {name: i%d, op: sigmoid, inputs: [pi%d]}\n", t, t);
        EMIT("- {name: f%d, op: sigmoid, inputs: [pfb%d]}\n", t, t);
        EMIT("- {name: g%d, op: tanh, inputs: [pg%d]}\n", t, t);
        EMIT("- {name: o%d, op: sigmoid, inputs: [po%d]}\n", t, t);
        EMIT("- {name: ig%d, op: mul, inputs: [i%d, g%d]}\n", t, t, t);
        if (t > 0) {
            EMIT("- {name: fc%d, op: mul, inputs: [f%d, c%d]}\n", t, t, t - 1);
            EMIT("- {name: c%d, op: add, inputs: [fc%d, ig%d]}\n", t, t, t);
        } else {
            EMIT("- {name: c%d, op: mul, inputs: [i%d, g%d]}\n", t, t, t);
        }
        EMIT("- {name: tc%d, op: tanh, inputs: [c%d]}\n", t, t);
        EMIT("- {name: h%d, op: mul, inputs: [o%d, tc%d]}\n", t, t, t);
        EMIT("- {name: hr%d, op: reshape, inputs: [h%d], shape: [1, %d]}\n", t, t, UH);
    }
    EMIT("- {name: y, op: concat, axis: 1, inputs: [");
    for (int t = 0; t < UT; t++) EMIT("%shr%d", t ? ", " : "", t);
    EMIT("]}\n");
#undef EMIT
    emit_back(s + n, len - (size_t)n);
}

struct side {
    struct tgraph t;
    struct gr_plan train, eval;
    int loss, y;
};

static void open_side(struct side *sd, void (*yaml)(char *, size_t)) {
    static char text[65536];
    yaml(text, sizeof text);
    cr_assert_eq(tg_build(&sd->t, text, UB), 0, "%s", sd->t.ctx.err);
    cr_assert_eq(gr_graph_alloc_params(&sd->t.g, gr_init_fill), 0);
    sd->loss = tg_node(&sd->t, "loss");
    sd->y = tg_node(&sd->t, "y");
    cr_assert_eq(gr_plan_init(&sd->train, &sd->t.g, UB, &sd->loss, 1, sd->loss), 0, "%s", sd->t.ctx.err);
    cr_assert_eq(gr_plan_init(&sd->eval, &sd->t.g, UB, &sd->y, 1, -1), 0, "%s", sd->t.ctx.err);
}

static float *param(struct side *sd, const char *name) { return sd->t.g.param + sd->t.g.nodes[tg_node(&sd->t, name)].param_offset; }
static float *grad(struct side *sd, const char *name) { return sd->t.g.grad + sd->t.g.nodes[tg_node(&sd->t, name)].param_offset; }

static void expect_close(const float *a, const float *b, int n, double tol, const char *what) {
    double worst = 0;
    int at = 0;
    for (int k = 0; k < n; k++) {
        /* relative, with a floor: near zero tanh(x) = 1 - 2 / (e^2x + 1) is good to
         * about 1e-7 absolute, and the two sides divide differently */
        double e = fabs((double)a[k] - b[k]) / (1e-2 + fabs((double)b[k]));
        if (e > worst) {
            worst = e;
            at = k;
        }
    }
    cr_log_info("%s: worst relative difference %.3g (bound %.0e)", what, worst, tol);
    cr_expect_leq(worst, tol, "%s: element %d: fused %.8g, composed %.8g", what, at, a[at], b[at]);
}

Test(lstm, fused_matches_the_composition_of_primitive_ops) {
    struct side fu, un;
    open_side(&fu, fused_yaml);
    open_side(&un, unfused_yaml);
    /* same parameters: the composition's wx, wh, b from the fused kernel and bias */
    memcpy(param(&un, "x.kernel"), param(&fu, "x.kernel"), UI0 * UI * sizeof(float));
    memcpy(param(&un, "x.bias"), param(&fu, "x.bias"), UI * sizeof(float));
    struct gr_rng rng;
    gr_rng_seed(&rng, 99);
    float *bias = param(&fu, "y.bias");
    for (int k = 0; k < UG; k++) bias[k] = 0.4f * gr_rng_uniform(&rng) - 0.2f;
    memcpy(param(&un, "wx"), param(&fu, "y.kernel"), UI * UG * sizeof(float));
    memcpy(param(&un, "wh"), param(&fu, "y.kernel") + UI * UG, UH * UG * sizeof(float));
    memcpy(param(&un, "b"), bias, UG * sizeof(float));
    /* same inputs */
    int xin = tg_node(&fu.t, "xin"), r = tg_node(&fu.t, "r");
    float *fx = fu.train.val[xin].data, *fr = fu.train.val[r].data;
    for (int k = 0; k < UB * UT * UI0; k++) fx[k] = 2 * gr_rng_uniform(&rng) - 1;
    for (int k = 0; k < UB * UT * UH; k++) fr[k] = 2 * gr_rng_uniform(&rng) - 1;
    memcpy(un.train.val[tg_node(&un.t, "xin")].data, fx, UB * UT * UI0 * sizeof(float));
    memcpy(un.train.val[tg_node(&un.t, "r")].data, fr, UB * UT * UH * sizeof(float));
    memcpy(fu.eval.val[tg_node(&fu.t, "xin")].data, fx, UB * UT * UI0 * sizeof(float));

    struct side *both[2] = {&fu, &un};
    for (int k = 0; k < 2; k++) {
        gr_plan_forward(&both[k]->train);
        gr_plan_zero_grad(&both[k]->train);
        gr_plan_backward(&both[k]->train);
    }
    gr_plan_forward(&fu.eval);
    const int ny = UB * UT * UH;
    expect_close(fu.train.val[fu.y].data, un.train.val[un.y].data, ny, 2e-5, "h, training");
    expect_close(fu.eval.val[fu.y].data, un.train.val[un.y].data, ny, 2e-5, "h, evaluation");
    expect_close(grad(&fu, "y.kernel"), grad(&un, "wx"), UI * UG, 1e-5, "dWx");
    expect_close(grad(&fu, "y.kernel") + UI * UG, grad(&un, "wh"), UH * UG, 1e-5, "dWh");
    expect_close(grad(&fu, "y.bias"), grad(&un, "b"), UG, 1e-5, "dbias");
    /* through dx: the dense layer in front */
    expect_close(grad(&fu, "x.kernel"), grad(&un, "x.kernel"), UI0 * UI, 1e-5, "d front kernel (via dx)");
    expect_close(grad(&fu, "x.bias"), grad(&un, "x.bias"), UI, 1e-5, "d front bias (via dx)");
    for (int k = 0; k < 2; k++) {
        gr_plan_free(&both[k]->train);
        gr_plan_free(&both[k]->eval);
        tg_free(&both[k]->t);
    }
}

/* ---- evaluation against training, bit for bit ----------------------------- */

/* An evaluation plan runs ops/lstm_cell.c's fused kernel (products and gates fused
 * per tile of rows) where it fits, training the host's products step by
 * step and cell_forward; the two must give the same bits. Inputs with many
 * exact zeros, whole steps of them too (as MNIST's blank rows). */
static void expect_eval_bits(int reverse, int b, int t, int in, int units, int poison) {
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "- {name: x, op: input, data: images, shape: [%d, %d]}\n"
             "- {name: y, op: lstm, inputs: [x], num_units: %d, forget_bias: 0.75, reverse: %s}\n",
             t, in, units, reverse ? "true" : "false");
    struct tgraph tg;
    struct gr_harness tr, ev;
    cr_assert_eq(tg_build(&tg, yaml, b), 0, "%s", tg.ctx.err);
    cr_assert_eq(gr_harness_init(&tr, &tg.g, tg_node(&tg, "y"), 1), 0, "%s", tg.ctx.err);
    cr_assert_eq(gr_harness_init(&ev, &tg.g, tg_node(&tg, "y"), 0), 0, "%s", tg.ctx.err);
    struct gr_rng rng;
    gr_rng_seed(&rng, 11);
    int64_t nx = (int64_t)b * t * in, nw = (int64_t)(in + units) * 4 * units, nb = 4 * units;
    float *x = tr.in[0].data, *w = tr.in[1].data, *bias = tr.in[2].data;
    tg_lstm_inputs(&rng, (int64_t)b * t, in, units, x, w, bias);
    /* an infinite weight of Wx (row 0, unit 0's input gate): where x is 0
     * its term is NaN, which exp's clamps turn into a number, so leaving
     * x's zeros out would change the outputs: the kernel must not */
    if (poison) w[0] = INFINITY;
    memcpy(ev.in[0].data, x, (size_t)nx * sizeof(float));
    memcpy(ev.in[1].data, w, (size_t)nw * sizeof(float));
    memcpy(ev.in[2].data, bias, (size_t)nb * sizeof(float));
    gr_harness_forward(&tr);
    gr_harness_forward(&ev);
    const float *yt = tr.out.data, *ye = ev.out.data;
    int64_t ny = (int64_t)b * t * units, differ = 0, first = -1;
    for (int64_t k = 0; k < ny; k++)
        if (memcmp(yt + k, ye + k, sizeof(float)) != 0 && differ++ == 0) first = k;
    cr_expect_eq(differ, 0, "B %d, T %d, I %d, H %d%s%s: %lld of %lld outputs differ, the first %lld: %.9g, %.9g", b,
                 t, in, units, reverse ? ", reversed" : "", poison ? ", Wx infinite" : "", (long long)differ,
                 (long long)ny, (long long)first,
                 first >= 0 ? yt[first] : 0.0, first >= 0 ? ye[first] : 0.0);
    gr_harness_free(&tr);
    gr_harness_free(&ev);
    tg_free(&tg);
}

Test(lstm, evaluation_gives_the_bits_of_training) {
    /* the fused kernel: 16-unit slices, batches leaving part tiles and blocks */
    expect_eval_bits(0, 40, 7, 5, 32, 0);
    expect_eval_bits(1, 40, 7, 5, 32, 0);
    expect_eval_bits(0, 101, 28, 28, 64, 0);
    expect_eval_bits(0, 40, 7, 5, 32, 1);
    /* I and H past one block of k: in the host's blocks */
    expect_eval_bits(0, 930, 2, 460, 464, 0); /* B >= I + H: packed */
    /* the step-by-step path: H not a multiple of 16, a batch too small to pack */
    expect_eval_bits(0, 13, 4, 3, 20, 0);
    expect_eval_bits(1, 7, 4, 3, 16, 0);
}
