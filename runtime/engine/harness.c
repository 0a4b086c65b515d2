#include "runtime/engine/harness.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/base/rng.h"
#include "ops/core.h"

int gr_harness_init(struct gr_harness *h, struct gr_graph *g, int node, int training) {
    struct gr_ctx *ctx = g->ctx;
    const struct gr_node *nd = &g->nodes[node];
    memset(h, 0, sizeof *h);
    h->g = g;
    h->node = node;

    /* sizes for this mode, from the inputs' build shapes */
    struct gr_infer inf;
    if (gr_node_infer(g, node, g->batch, training, NULL, NULL, &inf)) goto fail;

    for (int k = 0; k < nd->n_in; k++) {
        const struct gr_node *src = &g->nodes[nd->in[k]];
        size_t bytes = gr_shape_bytes(&src->shape);
        h->in[k].shape = src->shape;
        h->in[k].dtype = src->dtype;
        if (!(h->in[k].data = gr_calloc(ctx, bytes, 1))) goto fail;
        h->args.in[k] = &h->in[k];
        if (src->dtype == GR_F32 && gr_node_takes_grad(nd, k) && training) {
            h->din[k].shape = src->shape;
            h->din[k].dtype = GR_F32;
            if (!(h->din[k].data = gr_calloc(ctx, bytes, 1))) goto fail;
            h->args.din[k] = &h->din[k];
        }
    }
    h->out.shape = h->dout.shape = inf.out;
    h->out.dtype = inf.out_dtype;
    h->dout.dtype = GR_F32;
    size_t ob = gr_shape_bytes(&inf.out);
    if (!(h->out.data = gr_calloc(ctx, ob, 1)) || !(h->dout.data = gr_calloc(ctx, ob, 1))) goto fail;
    if (inf.saved_bytes && !(h->saved = gr_calloc(ctx, inf.saved_bytes, 1))) goto fail;
    if (inf.scratch_bytes && !(h->scratch = gr_calloc(ctx, inf.scratch_bytes, 1))) goto fail;
    h->args.n_in = nd->n_in;
    h->args.out = &h->out;
    h->args.dout = &h->dout;
    h->args.saved = h->saved;
    h->args.scratch = h->scratch;
    h->args.attrs = nd->attrs;
    h->args.host = &ctx->host;
    h->args.host_ctx = ctx;
    h->args.training = training;
    h->step = training ? 1 : 0;
    h->args.rng_key = gr_rng_node_key(ctx->seed, nd->name);
    h->args.rng_step = &h->step;
    return 0;
fail:
    gr_harness_free(h);
    return -1;
}

void gr_harness_free(struct gr_harness *h) {
    if (!h->g) return;
    struct gr_ctx *ctx = h->g->ctx;
    for (int k = 0; k < GR_MAX_INPUTS; k++) {
        gr_free(ctx, h->in[k].data);
        gr_free(ctx, h->din[k].data);
    }
    gr_free(ctx, h->out.data);
    gr_free(ctx, h->dout.data);
    gr_free(ctx, h->saved);
    gr_free(ctx, h->scratch);
    memset(h, 0, sizeof *h);
}

void gr_harness_forward(struct gr_harness *h) { h->g->nodes[h->node].op->forward(&h->args); }

void gr_harness_backward(struct gr_harness *h) {
    for (int k = 0; k < h->args.n_in; k++)
        if (h->args.din[k]) memset(h->din[k].data, 0, gr_shape_bytes(&h->din[k].shape));
    const struct gr_op_desc *op = h->g->nodes[h->node].op;
    if (op->backward) op->backward(&h->args);
}

static double weighted_sum(const struct gr_harness *h) {
    const float *y = h->out.data, *r = h->dout.data;
    int64_t n = gr_shape_count(&h->out.shape);
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)r[i] * (double)y[i];
    return s;
}

struct gr_gradcheck gr_gradcheck_defaults(void) {
    return (struct gr_gradcheck){.h = 1e-2, .atol = 2e-4, .rtol = 2e-3, .max_elems = 400, .gap = 2.5, .max_mag = 2};
}

/* n distinct magnitudes 0.1 + s * i in a random order, each with a random
 * sign; s = max(gap * h, 0.9 / (n - 1)) while the largest stays within
 * max_mag, else (max_mag - 0.1) / (n - 1) (harness.h gives the reasons).
 * Returns s. */
static double draw_spread(float *x, int64_t n, double min_gap, double max_mag, struct gr_rng *rng) {
    double s = n > 1 ? fmin(fmax(min_gap, 0.9 / (double)(n - 1)), (max_mag - 0.1) / (double)(n - 1)) : 1;
    for (int64_t i = 0; i < n; i++) x[i] = (float)(0.1 + s * (double)i);
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)gr_rng_below(rng, (uint64_t)i + 1);
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
    for (int64_t i = 0; i < n; i++)
        if (gr_rng_uniform(rng) < 0.5f) x[i] = -x[i];
    return s;
}

/* The range of drawn int inputs: the smallest axis of the node's float
 * inputs, batch axes left out (parameters have none). */
static int64_t index_range(const struct gr_graph *g, const struct gr_node *nd, const struct gr_harness *h) {
    int64_t c = 0;
    for (int k = 0; k < h->args.n_in; k++) {
        const struct gr_shape *s = &h->in[k].shape;
        if (h->in[k].dtype != GR_F32) continue;
        int first = (g->nodes[nd->in[k]].op->flags & GR_OP_PARAM) ? 0 : 1;
        for (int d = first; d < s->rank; d++)
            if (c == 0 || s->dim[d] < c) c = s->dim[d];
    }
    return c > 0 ? c : 1;
}

/* Every input of the harness drawn as harness.h describes: parameters
 * from their initializer, float inputs a spread grid (step_of[k] the step
 * that keeps them apart), int inputs indices in range. */
static void draw_inputs(struct gr_graph *g, const struct gr_node *nd, struct gr_harness *h, struct gr_rng *rng,
                        const struct gr_gradcheck *gc, double *step_of) {
    int64_t classes = index_range(g, nd, h);
    double gap = gc->gap > 0 ? gc->gap : 2.5;
    for (int k = 0; k < h->args.n_in; k++) {
        step_of[k] = gc->h;
        int64_t n = gr_shape_count(&h->in[k].shape);
        const struct gr_node *src = &g->nodes[nd->in[k]];
        if (src->op->flags & GR_OP_PARAM) {
            /* parameters at the scale their initializer gives: a recurrence
             * run with weights of magnitude 1 is chaotic, and no finite
             * difference is accurate there; constant initializers get noise
             * so no value sits at an exact 0 or 1 */
            enum gr_init init = (enum gr_init)src->attrs[GR_PARAM_INIT].i;
            float *x = h->in[k].data;
            GR_ASSERT(gc->fill);
            gc->fill(init, &h->in[k].shape, x, rng);
            if (init == GR_INIT_ZEROS || init == GR_INIT_ONES)
                for (int64_t i = 0; i < n; i++) x[i] += 0.2f * gr_rng_uniform(rng) - 0.1f;
        } else if (h->in[k].dtype == GR_F32) {
            double s = draw_spread(h->in[k].data, n, gc->h * gap, gc->max_mag > 0 ? gc->max_mag : 2.0, rng);
            step_of[k] = fmin(gc->h, s / gap); /* no step reaches another value */
        } else {
            int32_t *x = h->in[k].data;
            for (int64_t i = 0; i < n; i++) x[i] = (int32_t)gr_rng_below(rng, (uint64_t)classes);
        }
    }
}

int gr_gradcheck_node(struct gr_graph *g, int node, struct gr_rng *rng, struct gr_gradcheck *gc) {
    const struct gr_node *nd = &g->nodes[node];
    struct gr_harness h;
    gc->checked = gc->failed = 0;
    gc->worst = 0;
    gc->spacing = INFINITY;
    gc->report[0] = 0;
    if (!nd->op->backward) {
        snprintf(gc->report, sizeof gc->report, "op '%s' has no backward", nd->op->name);
        return 0;
    }
    if (gr_harness_init(&h, g, node, 1)) return -1;

    double step_of[GR_MAX_INPUTS];
    draw_inputs(g, nd, &h, rng, gc, step_of);
    float *r = h.dout.data;
    int64_t n_out = gr_shape_count(&h.out.shape);
    for (int64_t i = 0; i < n_out; i++) r[i] = 2.0f * gr_rng_uniform(rng) - 1.0f;

    gr_harness_forward(&h);
    gr_harness_backward(&h);

    /* The forward runs in float: each output carries rounding errors, which
     * a long recurrence amplifies to tens of units of 2^-24. Taken as random
     * over the outputs (the root of the sum of squares) and divided by the
     * step, that is the noise floor of a finite difference; below it no
     * difference means anything, so the absolute tolerance is never set
     * lower. Small graphs, as in the tests, stay at gc->atol; on the
     * 28-step reference LSTM the floor is about 7e-4. */
    const float *y0 = h.out.data;
    double scale = 0;
    for (int64_t i = 0; i < n_out; i++) scale += (double)r[i] * r[i] * (double)y0[i] * y0[i];
    double floor = 64.0 * 0x1p-24 * sqrt(scale) / 2.0;
    gc->noise = 0;

    for (int k = 0; k < h.args.n_in; k++) {
        if (!h.args.din[k]) continue;
        double hk = step_of[k], atol = fmax(gc->atol, floor / hk);
        gc->noise = fmax(gc->noise, floor / hk);
        gc->spacing = fmin(gc->spacing, hk / gc->h);
        float *x = h.in[k].data;
        const float *da = h.din[k].data;
        int64_t n = gr_shape_count(&h.in[k].shape);
        int64_t count = n <= gc->max_elems ? n : gc->max_elems;
        for (int64_t c = 0; c < count; c++) {
            int64_t e = n <= gc->max_elems ? c : (int64_t)gr_rng_below(rng, (uint64_t)n);
            float orig = x[e];
            x[e] = orig + (float)hk;
            gr_harness_forward(&h);
            double lp = weighted_sum(&h);
            x[e] = orig - (float)hk;
            gr_harness_forward(&h);
            double lm = weighted_sum(&h);
            x[e] = orig;
            /* the step actually taken, after rounding to float */
            double step = (double)(orig + (float)hk) - (double)(orig - (float)hk);
            double num = (lp - lm) / step;
            double a = da[e];
            double bound = atol + gc->rtol * fmax(fabs(a), fabs(num));
            double ratio = fabs(a - num) / bound;
            gc->checked++;
            if (ratio > 1.0) gc->failed++;
            if (ratio > gc->worst) {
                gc->worst = ratio;
                snprintf(gc->report, sizeof gc->report,
                         "node '%s' (%s): d/d input %d ('%s') element %lld: backward %.6g, finite difference %.6g",
                         nd->name, nd->op->name, k, g->nodes[nd->in[k]].name, (long long)e, a, num);
            }
        }
    }
    gr_harness_free(&h);
    return gc->failed ? 1 : 0;
}
