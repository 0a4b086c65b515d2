#include "runtime/session/session.h"

#include <math.h>
#include <string.h>

#include "ops/core.h"
#include "runtime/base/ctx.h"
#include "runtime/base/fs.h"
#include "runtime/host/host.h"
#include "runtime/host/threads.h"
#include "runtime/session/checks.h"
#include "runtime/session/datasets.h"
#include "runtime/session/feed.h"
#include "runtime/session/leaves.h"
#include "runtime/session/optimize.h"
#include "runtime/session/parallel.h"

/* The parameters and the plans a running session holds. */
static int make_plans(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    int64_t eb = s->ep.cap;
    gr_plan_free(&s->tp);
    gr_plan_free(&s->ep);
    if (gr_graph_alloc_params(&s->g, s->fill)) return -1;
    if (gr_session_uses_train(s)) {
        /* this rank's part of each batch (all of it for one process), in
         * s->leaves leaves (gr_session_lay_out_plans counted them) */
        int64_t part;
        gr_parallel_part(s, cfg->batch_size, &s->part_lo, &part);
        if (gr_plan_init(&s->tp, &s->g, part / s->leaves, &s->loss, 1, s->loss) || gr_leaves_alloc(s)) return -1;
        if (gr_session_verify_feed(s, &s->tp, &s->train_set)) return -1;
    }
    if (s->logits >= 0) {
        if (gr_plan_init(&s->ep, &s->g, eb, s->eval_targets, s->n_eval_targets, -1)) return -1;
        if (s->valid_set.d && gr_session_verify_feed(s, &s->ep, &s->valid_set)) return -1;
        if (s->test_set.d && gr_session_verify_feed(s, &s->ep, &s->test_set)) return -1;
    }
    return 0;
}

int gr_session_begin(struct gr_ctx *ctx, struct gr_session *s, const struct gr_config *cfg,
                     const struct gr_session_opts *opts) {
    memset(s, 0, sizeof *s);
    s->ctx = ctx;
    s->cfg = cfg;
    s->mode = opts ? opts->mode : GR_SESSION_TRAIN;
    s->fill = opts ? opts->fill : NULL;
    s->loss = s->logits = -1;
    s->aug_array = -1;
    s->dist = opts ? opts->dist : NULL;
    s->whole_batch = opts ? opts->whole_batch : 0;
    s->leaves = 1;
    gr_graph_init(&s->g, ctx, cfg->path);
    int threads = opts && opts->threads >= 0 ? opts->threads : cfg->threads;
    /* by default the ranks on a host share its cores, none oversubscribing */
    if (threads == 0 && s->dist && s->dist->local_size > 1) {
        int share = gr_cpu_online() / s->dist->local_size, usable = gr_cpu_count();
        threads = share < 1 ? 1 : share < usable ? share : usable;
    }
    if (gr_ctx_set_threads(ctx, threads)) return -1;
    gr_rng_seed(&ctx->rng, cfg->seed);
    ctx->seed = (uint64_t)cfg->seed;
    /* the data's headers, and the arrays the graph's inputs name */
    return gr_session_open_data(s) || gr_session_check_names(s) ? -1 : 0;
}

/* Everything that can be checked without allocating tensors (the data's
 * headers were, when the session began): names, every input against its
 * array in every set, plans laid
 * out, the checkpoint path, memory; then the data read through the same
 * descriptors, and its indices checked. */
static int check_everything(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    if ((s->loss = gr_session_find_node(s, cfg->loss, cfg->loss_at, "train.loss")) < 0) return -1;
    if (cfg->has_eval && (s->logits = gr_session_find_node(s, cfg->logits, cfg->logits_at, "eval.logits")) < 0)
        return -1;
    if (gr_session_check_data(s) || gr_session_check_sizes(s)) return -1;
    int64_t lo, part; /* this rank's rows of each batch */
    gr_parallel_part(s, cfg->batch_size, &lo, &part);
    if (gr_session_lay_out_plans(s, part) || gr_session_check_logits(s) || gr_session_plan_eval_loss(s)) return -1;
    if (gr_session_uses_train(s) && gr_parallel_check(s)) return -1;
    /* rank 0 alone writes checkpoints */
    if (gr_session_uses_train(s) && cfg->checkpoint && gr_parallel_rank(s) == 0 &&
        gr_probe_writable(s->ctx, cfg->checkpoint))
        return gr_session_fail_at_key(s, cfg->checkpoint_at, "train.checkpoint.path");
    if (gr_session_check_memory(s)) return -1;
    /* check reads everything to check it, but keeps only the indices */
    if (gr_session_read_data(s)) return -1;
    return gr_session_check_indices(s);
}

int gr_session_ready(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    struct gr_ctx *ctx = s->ctx;
    if (check_everything(s)) return -1;
    s->eval_samples = cfg->eval_samples ? cfg->eval_samples : s->eval_set->n;
    s->steps = cfg->steps ? cfg->steps : (cfg->epochs * s->train_set.n + cfg->batch_size - 1) / cfg->batch_size;
    if (gr_session_uses_train(s) && gr_session_check_training(s)) return -1;
    /* check and summary report the laid-out plans and parameters */
    if (s->mode == GR_SESSION_CHECK) return gr_graph_layout_params(&s->g);

    if (make_plans(s)) return -1;
    if (s->mode == GR_SESSION_TRAIN) {
        if (gr_session_init_training(s)) return -1;
        if (gr_sampler_init(ctx, &s->sampler, s->train_set.n, &ctx->rng)) return -1;
    }
    int64_t most = cfg->batch_size > cfg->eval_batch ? cfg->batch_size : cfg->eval_batch;
    s->idx = gr_alloc(ctx, (size_t)most * sizeof *s->idx);
    return s->idx ? 0 : -1;
}

void gr_session_close(struct gr_session *s) {
    if (!s->ctx) return;
    gr_free(s->ctx, s->idx);
    gr_leaves_free(s);
    gr_sampler_free(s->ctx, &s->sampler);
    gr_optim_free(s->ctx, &s->opt);
    gr_free(s->ctx, s->watch.best_param);
    gr_plan_free(&s->ep);
    gr_plan_free(&s->tp);
    gr_graph_free(&s->g);
    gr_free(s->ctx, s->holdout);
    gr_dataset_free(s->ctx, &s->train);
    gr_dataset_free(s->ctx, &s->valid);
    gr_dataset_free(s->ctx, &s->test);
    memset(s, 0, sizeof *s);
}

float gr_session_step(struct gr_session *s) {
    /* the global batch, of which this rank takes rows [lo, lo + n) */
    int64_t b = s->cfg->batch_size, lo = s->part_lo, n = s->tp.cap * s->leaves;
    int64_t draw = gr_sampler_drawn(&s->sampler) + lo;
    gr_sampler_next(&s->sampler, &s->ctx->rng, b, s->idx);
    if (lo) memmove(s->idx, s->idx + lo, (size_t)n * sizeof *s->idx);
    if (s->train_set.rows)
        for (int64_t k = 0; k < n; k++) s->idx[k] = s->train_set.rows[s->idx[k]];
    s->tp.step = ++s->step;
    float loss;
    if (s->leaves > 1) {
        loss = (float)gr_leaves_run(s, s->idx, draw, b);
    } else {
        gr_session_feed(s, &s->tp, &s->train_set, s->idx, n, s->aug_array >= 0, draw);
        gr_plan_forward(&s->tp);
        gr_plan_zero_grad(&s->tp);
        /* d(mean over B)/d(mean over this rank's n) = n / B; 1 for one process */
        gr_plan_backward_from(&s->tp, (float)n / (float)b);
        loss = *(const float *)s->tp.val[s->loss].data;
    }
    if (gr_parallel_on(s)) loss = gr_parallel_reduce_step(s, loss);
    s->fault = s->broken || !isfinite(loss) || gr_session_update(s);
    return loss;
}
