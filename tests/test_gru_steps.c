/* The gru op's fused steps (ops/gru_cell.c, ops/gru_back.c) against its
 * step-by-step path of the host's products and the scalar gate loops, bit
 * for bit: training's state and outputs, evaluation's outputs, and the
 * backward's dGI, dGH and dh, at units a multiple of 16 and not, 1 to 7
 * rows and more, reversed, with inputs and units past one block of k, the
 * rows whole and in uneven parts. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "ops/gru_cell.h"
#include "runtime/base/rng.h"

struct shape {
    int64_t b, t, in, h;
    int reverse, poison; /* poison: an infinite weight in Wx, so x's zeros must be summed */
};

static void describe(const struct shape *s, char *out, size_t len) {
    snprintf(out, len, "B %lld, T %lld, I %lld, H %lld%s%s", (long long)s->b, (long long)s->t, (long long)s->in,
             (long long)s->h, s->reverse ? ", reversed" : "", s->poison ? ", Wx infinite" : "");
}

static float *floats(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

/* Every float of a and b, bit for bit; with nan_ok, a NaN in both places
 * matches whatever its sign and payload (see expect_steps_bits). */
static int nan_ok;
static void expect_same_floats(const float *a, const float *b, int64_t n, const char *what, const char *shape) {
    int64_t differ = 0, first = -1;
    for (int64_t k = 0; k < n; k++)
        if (memcmp(a + k, b + k, sizeof(float)) != 0 && !(nan_ok && isnan(a[k]) && isnan(b[k])) && differ++ == 0)
            first = k;
    cr_expect_eq(differ, 0, "%s: %s: %lld of %lld differ, the first %lld: %.9g, %.9g", shape, what, (long long)differ,
                 (long long)n, (long long)first, first >= 0 ? a[first] : 0.0, first >= 0 ? b[first] : 0.0);
}

/* Cut q of [0, b) run in three uneven parts: a row, about half, the rest. */
static int64_t part_cut(int64_t b, int q) {
    int64_t c[4] = {0, 1, 1 + (b - 1) / 2, b};
    return c[q] < b ? c[q] : b;
}

/* The weights and inputs of a shape: x with exact zeros (whole rows of
 * them too), kernels and biases small. */
struct inputs {
    float *x, *wx, *u, *bi, *bh, *zeros;
};

static struct inputs inputs_of(const struct shape *s, struct gr_rng *rng) {
    int64_t g = 3 * s->h, nx = s->b * s->t * s->in;
    struct inputs v = {floats(nx), floats(s->in * g), floats(s->h * g), floats(g), floats(g), floats(g)};
    for (int64_t r = 0; r < s->b * s->t; r++) {
        int blank = gr_rng_uniform(rng) < 0.25;
        for (int64_t k = 0; k < s->in; k++)
            v.x[r * s->in + k] = blank || gr_rng_uniform(rng) < 0.5 ? 0.0f : (float)gr_rng_uniform(rng) * 2.0f - 1.0f;
    }
    for (int64_t k = 0; k < s->in * g; k++) v.wx[k] = 0.6f * (float)gr_rng_uniform(rng) - 0.3f;
    for (int64_t k = 0; k < s->h * g; k++) v.u[k] = 0.6f * (float)gr_rng_uniform(rng) - 0.3f;
    for (int64_t k = 0; k < g; k++) {
        v.bi[k] = 0.2f * (float)gr_rng_uniform(rng) - 0.1f;
        v.bh[k] = 0.2f * (float)gr_rng_uniform(rng) - 0.1f;
    }
    if (s->poison) v.wx[0] = INFINITY;
    return v;
}

static void free_inputs(struct inputs *v) {
    free(v->x), free(v->wx), free(v->u), free(v->bi), free(v->bh), free(v->zeros);
}

/* A forward's outputs: y [B*T, H], and in training gates [B*T, 3H], ghn [B*T, H]. */
struct outputs {
    float *y, *gates, *ghn;
};

/* One forward over all B samples: fused (packed weights) or step by step,
 * training (state kept) or evaluation, the rows whole or in parts (last
 * first). Step by step, training's gates arrive holding x @ Wx as gru.c
 * projects it. */
static struct outputs forward(struct gr_ctx *ctx, const struct shape *s, const struct inputs *v, int fused, int train,
                              int parts) {
    int64_t g = 3 * s->h, rows = s->b * s->t;
    struct outputs o = {floats(rows * s->h), train ? floats(rows * g) : NULL, train ? floats(rows * s->h) : NULL};
    float *gi = floats(s->b * g), *gh = floats(s->b * g), *eghn = floats(s->b * s->h);
    float *wp = fused ? floats(gru_cell_pack_floats(s->in, s->h)) : NULL;
    struct gru_cell e = {.T = s->t,
                         .I = s->in,
                         .H = s->h,
                         .reverse = s->reverse,
                         .x = v->x,
                         .wx = v->wx,
                         .u = v->u,
                         .bi = v->bi,
                         .bh = v->bh,
                         .y = o.y,
                         .gates = o.gates,
                         .ghn = o.ghn,
                         .gi = gi,
                         .gh = gh,
                         .eghn = eghn,
                         .zeros = v->zeros,
                         .wp = wp,
                         .host = &ctx->host,
                         .host_ctx = ctx};
    if (fused) gru_cell_pack(&e);
    if (!fused && train)
        ctx->host.sgemm(ctx, GR_NO_TRANS, GR_NO_TRANS, rows, g, s->in, 1.0f, v->x, s->in, v->wx, g, 0.0f, o.gates, g);
    if (!parts) gru_cell_rows(&e, 0, s->b);
    for (int q = parts ? 2 : -1; q >= 0; q--)
        if (part_cut(s->b, q) < part_cut(s->b, q + 1)) gru_cell_rows(&e, part_cut(s->b, q), part_cut(s->b, q + 1));
    free(gi), free(gh), free(eghn), free(wp);
    return o;
}

static void free_outputs(struct outputs *o) { free(o->y), free(o->gates), free(o->ghn); }

/* dGI, dGH [B*T, 3H] and dh [B, H] of one backward. */
struct grads {
    float *dgi, *dgh, *dh;
};

/* Backward through the state st over all B samples: step by step (the
 * host's product with U^T) or fused (packed U^T), whole or in parts. */
static struct grads backward(struct gr_ctx *ctx, const struct shape *s, const struct inputs *v,
                             const struct outputs *st, const float *dy, int fused, int parts) {
    int64_t h = s->h, g = 3 * h, rows = s->b * s->t;
    struct grads d = {floats(rows * g), floats(rows * g), floats(s->b * h)};
    float *ut = floats(g * h), *utp = fused ? floats(gru_back_pack_floats(h)) : NULL;
    for (int64_t r = 0; r < h; r++)
        for (int64_t c = 0; c < g; c++) ut[c * h + r] = v->u[r * g + c];
    struct gru_back e = {.T = s->t,
                         .H = h,
                         .reverse = s->reverse,
                         .gates = st->gates,
                         .ghn = st->ghn,
                         .y = st->y,
                         .dy = dy,
                         .zeros = v->zeros,
                         .dgi = d.dgi,
                         .dgh = d.dgh,
                         .dh = d.dh,
                         .ut = ut,
                         .utp = utp,
                         .host = &ctx->host,
                         .host_ctx = ctx};
    if (fused) gru_back_pack(&e, v->u);
    if (!parts) gru_back_rows(&e, 0, s->b);
    for (int q = parts ? 2 : -1; q >= 0; q--)
        if (part_cut(s->b, q) < part_cut(s->b, q + 1)) gru_back_rows(&e, part_cut(s->b, q), part_cut(s->b, q + 1));
    free(ut), free(utp);
    return d;
}

static void free_grads(struct grads *d) { free(d->dgi), free(d->dgh), free(d->dh); }

/* The fused steps against step by step at one shape, forward (training
 * and evaluation) and backward, whole and in parts. With Wx infinite, 0 *
 * inf makes NaNs, and where an operation meets two NaNs the result takes
 * the sign of one of them, which one the compiler's operand order decides
 * for the step-by-step loops (C leaves a NaN's sign unspecified); there
 * the NaNs must fall in the same places, every other float bit for bit.
 * (Training stops at a loss that is not finite, so no NaN reaches the
 * weights.) */
static void expect_steps_bits(struct gr_ctx *ctx, struct shape s) {
    char name[128], what[64];
    nan_ok = s.poison;
    describe(&s, name, sizeof name);
    struct gr_rng rng;
    gr_rng_seed(&rng, (uint64_t)(s.b * 1000003 + s.in * 1009 + s.h * 7 + s.reverse));
    struct inputs v = inputs_of(&s, &rng);
    int64_t h = s.h, g = 3 * h, rows = s.b * s.t;
    struct outputs ref = forward(ctx, &s, &v, 0, 1, 0), eref = forward(ctx, &s, &v, 0, 0, 0);
    expect_same_floats(ref.y, eref.y, rows * h, "y: evaluation against training, step by step", name);
    for (int parts = 0; parts < 2; parts++) {
        struct outputs f = forward(ctx, &s, &v, 1, 1, parts), ef = forward(ctx, &s, &v, 1, 0, parts);
        const char *how = parts ? ", in parts" : "";
        snprintf(what, sizeof what, "y%s", how);
        expect_same_floats(ref.y, f.y, rows * h, what, name);
        snprintf(what, sizeof what, "r, z, n%s", how);
        expect_same_floats(ref.gates, f.gates, rows * g, what, name);
        snprintf(what, sizeof what, "gh_n%s", how);
        expect_same_floats(ref.ghn, f.ghn, rows * h, what, name);
        snprintf(what, sizeof what, "evaluation's y%s", how);
        expect_same_floats(ref.y, ef.y, rows * h, what, name);
        free_outputs(&f), free_outputs(&ef);
    }
    float *dy = floats(rows * h);
    for (int64_t k = 0; k < rows * h; k++) dy[k] = (float)gr_rng_uniform(&rng) - 0.5f;
    struct grads dref = backward(ctx, &s, &v, &ref, dy, 0, 0);
    for (int parts = 0; parts < 2; parts++) {
        struct grads d = backward(ctx, &s, &v, &ref, dy, 1, parts);
        const char *how = parts ? ", in parts" : "";
        snprintf(what, sizeof what, "dGI%s", how);
        expect_same_floats(dref.dgi, d.dgi, rows * g, what, name);
        snprintf(what, sizeof what, "dGH%s", how);
        expect_same_floats(dref.dgh, d.dgh, rows * g, what, name);
        snprintf(what, sizeof what, "dh%s", how);
        expect_same_floats(dref.dh, d.dh, s.b * h, what, name);
        free_grads(&d);
    }
    free_grads(&dref), free(dy), free_outputs(&ref), free_outputs(&eref), free_inputs(&v);
}

Test(gru, fused_steps_give_the_bits_of_the_step_by_step_path_forward_and_backward) {
    if (!gru_cell_fits(1, 16) || !gru_back_fits(16)) cr_skip_test("no AVX-512 in this build");
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0, "%s", ctx.err);
    static const int64_t hs[] = {16, 24, 64, 80, 5}, ins[] = {1, 28, 100}, bs[] = {1, 2, 3, 4, 5, 6, 7, 9, 32, 33};
    for (size_t ih = 0; ih < sizeof hs / sizeof *hs; ih++)
        for (size_t ii = 0; ii < sizeof ins / sizeof *ins; ii++)
            for (size_t ib = 0; ib < sizeof bs / sizeof *bs; ib++)
                for (int reverse = 0; reverse < 2; reverse++)
                    expect_steps_bits(&ctx, (struct shape){bs[ib], 5, ins[ii], hs[ih], reverse, 0});
    expect_steps_bits(&ctx, (struct shape){33, 5, 28, 64, 0, 1});
    expect_steps_bits(&ctx, (struct shape){7, 4, 28, 40, 1, 1});
    /* past one block of k: h @ U (H 464: 240 and 224) and dh's 3H = 1392
     * (448, 448, 256 and 240), x @ Wx too (I 500: 256 and 244; 900: 448,
     * 240, 212), x's zeros then summed */
    expect_steps_bits(&ctx, (struct shape){13, 2, 500, 464, 0, 0});
    expect_steps_bits(&ctx, (struct shape){7, 2, 20, 470, 1, 0});
    expect_steps_bits(&ctx, (struct shape){9, 2, 900, 16, 0, 0});
    expect_steps_bits(&ctx, (struct shape){9, 2, 900, 33, 0, 1});
    expect_steps_bits(&ctx, (struct shape){32, 3, 28, 256, 1, 0}); /* dh's 3H = 768: 384 and 384 */
    expect_steps_bits(&ctx, (struct shape){70, 3, 28, 48, 0, 0});  /* more rows than a pass of tiles takes */
    gr_ctx_free(&ctx);
}
