/* The fused lstm op against a plain step-by-step LSTM written from the
 * equations in double precision, for the outputs and for every gradient
 * (the reference's gradients by central differences in double). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "helpers.h"

enum { B = 3, T = 5, I = 4, H = 6, G = 4 * H };

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
