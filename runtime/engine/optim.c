#include "runtime/engine/optim.h"

#include <math.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/host/threads.h"

int gr_optim_init(struct gr_ctx *ctx, struct gr_optim *o, const struct gr_optim_cfg *cfg, int64_t n) {
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->n = n;
    size_t count = (size_t)(n ? n : 1);
    o->m = gr_calloc(ctx, count, sizeof(float));
    if (!o->m) return -1;
    if (cfg->kind == GR_OPTIM_ADAM) {
        o->v = gr_calloc(ctx, count, sizeof(float));
        if (!o->v) return -1;
    }
    return 0;
}

void gr_optim_free(struct gr_ctx *ctx, struct gr_optim *o) {
    gr_free(ctx, o->m);
    gr_free(ctx, o->v);
    memset(o, 0, sizeof *o);
}

struct step_job {
    struct gr_optim *o;
    float *p;
    const float *g;
    float c1, c2; /* Adam's bias corrections for this step */
};

/* elements [16 b, 16 e) of the blocks: whole cache lines per thread */
static void step_part(void *arg, int64_t b, int64_t e) {
    const struct step_job *j = arg;
    struct gr_optim *o = j->o;
    int64_t i0 = 16 * b, i1 = 16 * e < o->n ? 16 * e : o->n;
    float *p = j->p;
    const float *g = j->g;
    const struct gr_optim_cfg *c = &o->cfg;
    if (c->kind == GR_OPTIM_SGD) {
        float lr = (float)c->lr, mu = (float)c->momentum;
        if (mu == 0.0f) {
            for (int64_t i = i0; i < i1; i++) p[i] -= lr * g[i];
        } else {
            float *v = o->m;
            for (int64_t i = i0; i < i1; i++) {
                v[i] = mu * v[i] + g[i];
                p[i] -= lr * v[i];
            }
        }
        return;
    }
    /* 1 - beta in double: (1.0f - 0.999f) is off by 5e-5 relative */
    float b1 = (float)c->beta1, b2 = (float)c->beta2, eps = (float)c->eps, lr = (float)c->lr;
    float ob1 = (float)(1.0 - c->beta1), ob2 = (float)(1.0 - c->beta2);
    float c1 = j->c1, c2 = j->c2;
    float *m = o->m, *v = o->v;
    for (int64_t i = i0; i < i1; i++) {
        m[i] = b1 * m[i] + ob1 * g[i];
        v[i] = b2 * v[i] + ob2 * g[i] * g[i];
        p[i] -= lr * (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
    }
}

void gr_optim_step(struct gr_optim *o, struct gr_pool *pool, float *p, const float *g) {
    o->t++;
    struct step_job j = {o, p, g, 0, 0};
    /* bias corrections in double: b^t underflows gracefully there */
    j.c1 = (float)(1.0 / (1.0 - pow(o->cfg.beta1, (double)o->t)));
    j.c2 = (float)(1.0 / (1.0 - pow(o->cfg.beta2, (double)o->t)));
    gr_pool_run(pool, (o->n + 15) / 16, step_part, &j);
}
