#include "runtime/engine/optim.h"

#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/host/threads.h"

int gr_optim_init(struct gr_ctx *ctx, struct gr_optim *o, const struct gr_optim_cfg *cfg, int64_t n) {
    memset(o, 0, sizeof *o);
    GR_ASSERT(cfg->desc);
    o->cfg = *cfg;
    o->n = n;
    size_t count = (size_t)(n ? n : 1);
    for (int k = 0; k < cfg->desc->n_state; k++)
        if (!(o->state[k] = gr_calloc(ctx, count, sizeof(float)))) return -1;
    return 0;
}

void gr_optim_free(struct gr_ctx *ctx, struct gr_optim *o) {
    for (int k = 0; k < GR_OPTIM_MAX_STATE; k++) gr_free(ctx, o->state[k]);
    memset(o, 0, sizeof *o);
}

float *gr_optim_state(const struct gr_optim *o, const char *name) {
    for (int k = 0; o->cfg.desc && k < o->cfg.desc->n_state; k++)
        if (strcmp(o->cfg.desc->state[k].name, name) == 0) return o->state[k];
    return NULL;
}

struct step_job {
    const struct gr_optim_desc *desc;
    const struct gr_optim_args *args;
    int64_t n;
};

/* elements [16 b, 16 e) of the blocks: whole cache lines per thread */
static void step_part(void *arg, int64_t b, int64_t e) {
    const struct step_job *j = arg;
    int64_t i0 = 16 * b, i1 = 16 * e < j->n ? 16 * e : j->n;
    j->desc->update(j->args, i0, i1);
}

void gr_optim_step(struct gr_optim *o, struct gr_pool *pool, float *p, const float *g) {
    const struct gr_optim_desc *d = o->cfg.desc;
    o->t++;
    struct gr_optim_args a = {.param = p, .grad = g, .hp = o->cfg.hp, .lr = o->cfg.lr, .t = o->t};
    for (int k = 0; k < d->n_state; k++) a.state[k] = o->state[k];
    if (d->prepare) d->prepare(&a);
    struct step_job j = {d, &a, o->n};
    gr_pool_run(pool, (o->n + 15) / 16, step_part, &j);
}
