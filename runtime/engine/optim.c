#include "runtime/engine/optim.h"

#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/host/threads.h"

int gr_optim_init(struct gr_ctx *ctx, struct gr_optim *o, const struct gr_optim_cfg *cfg, int64_t n) {
    memset(o, 0, sizeof *o);
    GR_ASSERT(cfg->desc);
    const struct gr_optim_desc *d = cfg->desc;
    o->cfg = *cfg;
    o->n = n;
    o->lr = cfg->lr;
    size_t count = (size_t)(n ? n : 1);
    for (int k = 0; k < d->n_state; k++) {
        if (!gr_optim_state_held(d, cfg->hp, k)) continue;
        if (!(o->state[k] = gr_calloc(ctx, count, sizeof(float)))) return -1;
        int from = d->state[k].init_from ? gr_optim_key_index(d, d->state[k].init_from) : -1;
        for (int64_t i = 0; from >= 0 && i < n; i++) o->state[k][i] = (float)cfg->hp[from];
    }
    struct gr_optim_seg whole = {0, n, 1.0};
    if (gr_optim_set_segments(ctx, o, &whole, 1)) return -1;
    o->partial = gr_calloc(ctx, (size_t)((n + GR_NORM_BLOCK - 1) / GR_NORM_BLOCK + 1), sizeof(double));
    return o->partial ? 0 : -1;
}

void gr_optim_free(struct gr_ctx *ctx, struct gr_optim *o) {
    for (int k = 0; k < GR_OPTIM_MAX_STATE; k++) gr_free(ctx, o->state[k]);
    gr_free(ctx, o->seg);
    gr_free(ctx, o->partial);
    memset(o, 0, sizeof *o);
}

int gr_optim_set_segments(struct gr_ctx *ctx, struct gr_optim *o, const struct gr_optim_seg *seg, int n) {
    struct gr_optim_seg *copy = gr_alloc(ctx, (size_t)(n ? n : 1) * sizeof *copy);
    if (!copy) return -1;
    for (int k = 0; k < n; k++) {
        GR_ASSERT(seg[k].begin <= seg[k].end && seg[k].end <= o->n && (k == 0 || seg[k - 1].end <= seg[k].begin));
        copy[k] = seg[k];
    }
    gr_free(ctx, o->seg);
    o->seg = copy;
    o->n_seg = n;
    return 0;
}

float *gr_optim_state(const struct gr_optim *o, const char *name) {
    for (int k = 0; o->cfg.desc && k < o->cfg.desc->n_state; k++)
        if (strcmp(o->cfg.desc->state[k].name, name) == 0) return o->state[k];
    return NULL;
}

struct step_job {
    const struct gr_optim_desc *desc;
    const struct gr_optim_args *args;
    int64_t begin, end;
};

/* elements begin + [16 b, 16 e) of the blocks: whole cache lines per thread
 * (a parameter starts on a 16-float boundary, and so does a segment) */
static void step_part(void *arg, int64_t b, int64_t e) {
    const struct step_job *j = arg;
    int64_t i0 = j->begin + 16 * b, i1 = j->begin + 16 * e < j->end ? j->begin + 16 * e : j->end;
    j->desc->update(j->args, i0, i1);
}

void gr_optim_step(struct gr_optim *o, struct gr_pool *pool, float *p, const float *g) {
    const struct gr_optim_desc *d = o->cfg.desc;
    o->t++;
    struct gr_optim_args a = {.param = p, .grad = g, .hp = o->cfg.hp, .lr = o->lr, .t = o->t, .decay = 1.0};
    for (int k = 0; k < d->n_state; k++) a.state[k] = o->state[k];
    if (d->prepare) d->prepare(&a);
    for (int k = 0; k < o->n_seg; k++) {
        a.decay = o->seg[k].decay;
        struct step_job j = {d, &a, o->seg[k].begin, o->seg[k].end};
        gr_pool_run(pool, (j.end - j.begin + 15) / 16, step_part, &j);
    }
}

/* ---- the gradient: its norm, clipping ------------------------------------ */

struct grad_job {
    struct gr_optim *o;
    float *grad;
    float x;
};

static void sumsq_part(void *arg, int64_t b, int64_t e) {
    const struct grad_job *j = arg;
    for (int64_t k = b; k < e; k++) {
        int64_t i0 = k * GR_NORM_BLOCK, i1 = i0 + GR_NORM_BLOCK < j->o->n ? i0 + GR_NORM_BLOCK : j->o->n;
        /* GR_NORM_LANES sums, lane l over the block's elements i = l mod
         * GR_NORM_LANES, then the lanes added in order: independent chains
         * the compiler keeps in vector registers, where one chain would wait
         * on each add */
        double lane[GR_NORM_LANES] = {0}, acc = 0;
        int64_t i = i0;
        for (; i + GR_NORM_LANES <= i1; i += GR_NORM_LANES)
            for (int l = 0; l < GR_NORM_LANES; l++) lane[l] += (double)j->grad[i + l] * (double)j->grad[i + l];
        for (; i < i1; i++) lane[(i - i0) & (GR_NORM_LANES - 1)] += (double)j->grad[i] * (double)j->grad[i];
        for (int l = 0; l < GR_NORM_LANES; l++) acc += lane[l];
        j->o->partial[k] = acc;
    }
}

double gr_optim_grad_sumsq(struct gr_optim *o, struct gr_pool *pool, const float *grad) {
    int64_t blocks = (o->n + GR_NORM_BLOCK - 1) / GR_NORM_BLOCK;
    struct grad_job j = {o, (float *)grad, 0};
    gr_pool_run(pool, blocks, sumsq_part, &j);
    double sum = 0;
    for (int64_t k = 0; k < blocks; k++) sum += o->partial[k];
    return sum;
}

static void scale_part(void *arg, int64_t b, int64_t e) {
    const struct grad_job *j = arg;
    for (int64_t i = b; i < e; i++) j->grad[i] *= j->x;
}

static void clamp_part(void *arg, int64_t b, int64_t e) {
    const struct grad_job *j = arg;
    float hi = j->x, lo = -j->x;
    for (int64_t i = b; i < e; i++) j->grad[i] = j->grad[i] > hi ? hi : j->grad[i] < lo ? lo : j->grad[i];
}

void gr_optim_grad_scale(struct gr_optim *o, struct gr_pool *pool, float *grad, float scale) {
    struct grad_job j = {o, grad, scale};
    gr_pool_run(pool, o->n, scale_part, &j);
}

void gr_optim_grad_clamp(struct gr_optim *o, struct gr_pool *pool, float *grad, float limit) {
    struct grad_job j = {o, grad, limit};
    gr_pool_run(pool, o->n, clamp_part, &j);
}
