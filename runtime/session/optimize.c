#include "runtime/session/optimize.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/core.h"
#include "runtime/base/ctx.h"
#include "runtime/base/text.h"
#include "runtime/session/datasets.h"
#include "runtime/session/state.h"

int gr_session_plan_eval_loss(struct gr_session *s) {
    s->eval_targets[0] = s->logits;
    s->n_eval_targets = 1;
    if (s->logits < 0 || s->loss < 0 || !gr_session_uses_train(s)) return 0;
    s->eval_targets[1] = s->loss;
    struct gr_plan p;
    memset(&p, 0, sizeof p);
    struct gr_shape *shapes = gr_calloc(s->ctx, (size_t)s->g.n, sizeof *shapes);
    enum gr_dtype *dtypes = gr_calloc(s->ctx, (size_t)s->g.n, sizeof *dtypes);
    int64_t cap = s->ep.cap, probes[3] = {1, 2, cap - 1};
    int ok = shapes && dtypes && gr_plan_layout(&p, &s->g, cap, s->eval_targets, 2, -1) == 0 &&
             gr_shape_count(&p.val[s->loss].shape) == 1 && p.val[s->loss].dtype == GR_F32 &&
             gr_session_eval_feeds(s, &p);
    for (int k = 0; k < 3 && ok; k++) {
        if (probes[k] < 1 || probes[k] >= cap) continue;
        ok = gr_plan_shapes_at(&p, probes[k], shapes, dtypes) == 0 && gr_shape_count(&shapes[s->loss]) == 1;
    }
    gr_free(s->ctx, shapes);
    gr_free(s->ctx, dtypes);
    if (!ok) {
        gr_plan_free(&p);
        s->ctx->err[0] = 0; /* not an error: the evaluation measures no loss */
        return 0;
    }
    gr_plan_free(&s->ep);
    s->ep = p;
    s->n_eval_targets = 2;
    return 0;
}

/* Whether weight_decay_exclude spares parameter `name`. */
static int spared(const struct gr_config *cfg, const char *name) {
    for (int k = 0; k < cfg->n_decay_exclude; k++)
        if (fnmatch(cfg->decay_exclude[k], name, 0) == 0) return 1;
    return 0;
}

/* Each pattern matches a parameter, or an error at it naming the closest. */
static int check_patterns(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    for (int k = 0; k < cfg->n_decay_exclude; k++) {
        struct gr_suggest sg;
        gr_suggest_init(&sg, cfg->decay_exclude[k]);
        int hits = 0;
        for (int i = 0; i < s->g.n; i++) {
            const struct gr_node *nd = &s->g.nodes[i];
            if (!(nd->op->flags & GR_OP_PARAM)) continue;
            hits += fnmatch(cfg->decay_exclude[k], nd->name, 0) == 0;
            gr_suggest_offer(&sg, nd->name);
        }
        if (hits) continue;
        const char *near = gr_suggest_best(&sg);
        return gr_fail_node(s->ctx, cfg->path, cfg->decay_exclude_at[k],
                            "train.optimizer.weight_decay_exclude[%d]: '%s' matches no parameter%s%s%s", k,
                            cfg->decay_exclude[k],
                            near ? " (did you mean '" : " (parameters are named <node>.<weight>, e.g. '*.bias')",
                            near ? near : "", near ? "'?)" : "");
    }
    return 0;
}

/* The schedule against the run's length: at the key at fault. */
static int check_schedule(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    struct gr_sched sched;
    char msg[GR_ERRBUF];
    int bad;
    if (gr_sched_init(&sched, &cfg->sched, cfg->optim.lr, s->steps, cfg->batch_size, s->train_set.n, msg,
                      sizeof msg, &bad) == 0)
        return 0;
    if (bad == GR_SCHED_AT_WARMUP)
        return gr_fail_node(s->ctx, cfg->path, cfg->warmup_at, "train.schedule.warmup: %s", msg);
    const struct gr_ynode *at = cfg->sched_key_at[bad] ? cfg->sched_key_at[bad] : cfg->sched_at;
    return gr_fail_node(s->ctx, cfg->path, at, "train.schedule.%s: %s", cfg->sched.desc->keys[bad].name, msg);
}

/* A watcher that wants the loss needs an evaluation plan that runs it. */
static int check_measurable(struct gr_session *s, int wants_loss, const struct gr_ynode *at, const char *what) {
    if (!wants_loss || s->n_eval_targets > 1 || s->logits < 0) return 0;
    return gr_fail_node(s->ctx, s->cfg->path, at,
                        "%s: the periodic evaluation cannot measure the loss '%s' (it does not run at every "
                        "evaluation batch, 1 to %lld samples); watch the accuracy instead",
                        what, s->cfg->loss, (long long)s->ep.cap);
}

int gr_session_check_training(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    if (check_patterns(s) || check_schedule(s)) return -1;
    const struct gr_sched_desc *sd = cfg->sched.desc;
    if (check_measurable(s, cfg->early.on && cfg->early.metric == GR_METRIC_LOSS, cfg->early.metric_at,
                         "train.early_stopping.metric") ||
        check_measurable(s, cfg->target.on && cfg->target.metric == GR_METRIC_LOSS, cfg->target.metric_at,
                         "train.target.metric"))
        return -1;
    int plateau_loss = sd->needs && strcmp(sd->needs(cfg->sched.hp), "loss") == 0;
    int k = gr_sched_key_index(sd, "metric");
    return check_measurable(s, plateau_loss, k >= 0 && cfg->sched_key_at[k] ? cfg->sched_key_at[k] : cfg->sched_at,
                            "train.schedule.metric");
}

int gr_session_param_copies(const struct gr_session *s) {
    const struct gr_optim_cfg *oc = &s->cfg->optim;
    int n = s->cfg->early.on;
    for (int k = 0; k < oc->desc->n_state; k++) n += gr_optim_state_held(oc->desc, oc->hp, k);
    return n;
}

/* Segments of the block in parameter order: each parameter (with the
 * padding after it) at decay 0 when spared, else 1; frozen ones in none;
 * neighbours of the same decay joined, so a graph without exclusions and
 * frozen parameters is one segment, the whole block. */
static int make_segments(struct gr_session *s) {
    struct gr_graph *g = &s->g;
    struct gr_optim_seg *seg = gr_alloc(s->ctx, (size_t)(g->n ? g->n : 1) * sizeof *seg);
    if (!seg) return -1;
    int n = 0;
    for (int i = 0; i < g->n; i++) {
        const struct gr_node *nd = &g->nodes[i];
        if (!(nd->op->flags & GR_OP_PARAM) || !nd->attrs[GR_PARAM_TRAINABLE].i) continue;
        int64_t b = nd->param_offset, e = b + (gr_shape_count(&nd->shape) + 15) / 16 * 16;
        double decay = spared(s->cfg, nd->name) ? 0.0 : 1.0;
        if (n > 0 && seg[n - 1].end == b && seg[n - 1].decay == decay) seg[n - 1].end = e;
        else seg[n++] = (struct gr_optim_seg){b, e, decay};
    }
    int rc = gr_optim_set_segments(s->ctx, &s->opt, seg, n);
    gr_free(s->ctx, seg);
    return rc;
}

int gr_session_init_training(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    struct gr_ctx *ctx = s->ctx;
    if (gr_optim_init(ctx, &s->opt, &cfg->optim, s->g.param_floats) || make_segments(s)) return -1;
    char msg[GR_ERRBUF];
    int bad;
    int rc = gr_sched_init(&s->sched, &cfg->sched, cfg->optim.lr, s->steps, cfg->batch_size, s->train_set.n, msg,
                           sizeof msg, &bad);
    GR_ASSERT(rc == 0); /* gr_session_check_training passed */
    s->watch.best = cfg->early.maximize ? -INFINITY : INFINITY;
    if (cfg->early.on) {
        s->watch.best_param = gr_calloc(ctx, (size_t)(s->g.param_floats ? s->g.param_floats : 1), sizeof(float));
        if (!s->watch.best_param) return -1;
    }
    return 0;
}

int gr_session_update(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    struct gr_pool *pool = s->ctx->pool;
    double sumsq = gr_optim_grad_sumsq(&s->opt, pool, s->g.grad);
    if (!isfinite(sumsq)) return 1;
    s->grad_norm = sqrt(sumsq);
    /* as torch's clip_grad_norm_: scaled by max / (norm + 1e-6) when below 1 */
    double coef = cfg->clip_norm > 0 ? cfg->clip_norm / (s->grad_norm + 1e-6) : 1.0;
    if (coef < 1.0) gr_optim_grad_scale(&s->opt, pool, s->g.grad, (float)coef);
    if (cfg->clip_value > 0) gr_optim_grad_clamp(&s->opt, pool, s->g.grad, (float)cfg->clip_value);
    s->opt.lr = gr_sched_lr(&s->sched, s->opt.t + 1);
    gr_optim_step(&s->opt, pool, s->g.param, s->g.grad);
    return 0;
}
