#include "runtime/session/session.h"

#include <math.h>
#include <string.h>

#include "ops/core.h"
#include "runtime/base/ctx.h"
#include "runtime/base/fs.h"
#include "runtime/host/host.h"
#include "runtime/host/threads.h"
#include "runtime/session/checks.h"

/* Open one split: headers checked, files kept open until read. */
static int open_split(struct gr_session *s, struct gr_dataset *d, const struct gr_data_paths *p, const char *what) {
    if (gr_dataset_open(s->ctx, d, p->images, p->labels)) return gr_session_fail_at_key(s, p->images_at, what);
    if (p->limit && p->limit < d->n) d->n = p->limit;
    return 0;
}

/* Read an opened split through the descriptors its headers were checked with. */
static int read_split(struct gr_session *s, struct gr_dataset *d, const struct gr_data_paths *p, const char *what,
                      int with_images) {
    if (gr_dataset_read(s->ctx, d, p->images, p->labels, with_images)) return gr_session_fail_at_key(s, p->images_at, what);
    return 0;
}

struct feed_job {
    const struct gr_session *s;
    const struct gr_dataset *d;
    float *dst;
};

static void feed_images(void *arg, int64_t b, int64_t e) {
    const struct feed_job *j = arg;
    gr_dataset_images(j->d, j->s->idx + b, e - b, (float)j->s->cfg->pixel_lo, (float)j->s->cfg->pixel_hi,
                      j->dst + b * j->d->sample_size);
}

/* gr_session_verify_feed checked once that what was read fits. */
void gr_session_feed(struct gr_session *s, struct gr_plan *p, const struct gr_dataset *d, int64_t n) {
    for (int o = 0; o < p->n_order; o++) {
        int i = p->order[o];
        const struct gr_node *nd = &s->g.nodes[i];
        if (!(nd->op->flags & GR_OP_INPUT)) continue;
        if (nd->attrs[GR_INPUT_DATA].i == GR_INPUT_IMAGES) {
            struct feed_job j = {s, d, p->val[i].data};
            gr_pool_run(s->ctx->pool, n, feed_images, &j);
        } else {
            gr_dataset_labels(d, s->idx, n, p->val[i].data);
        }
    }
}

/* The parameters and the plans a running session holds. */
static int make_plans(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    int64_t eb = s->ep.cap;
    gr_plan_free(&s->tp);
    gr_plan_free(&s->ep);
    if (gr_graph_alloc_params(&s->g, s->fill)) return -1;
    if (gr_session_uses_train(s)) {
        if (gr_plan_init(&s->tp, &s->g, cfg->batch_size, &s->loss, 1, s->loss)) return -1;
        if (gr_session_verify_feed(s, &s->tp, &s->train, "data.train")) return -1;
    }
    if (s->logits >= 0) {
        if (gr_plan_init(&s->ep, &s->g, eb, &s->logits, 1, -1)) return -1;
        if (gr_session_uses_test(s) && gr_session_verify_feed(s, &s->ep, &s->test, "data.test")) return -1;
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
    gr_graph_init(&s->g, ctx, cfg->path);
    int threads = opts && opts->threads >= 0 ? opts->threads : cfg->threads;
    if (gr_ctx_set_threads(ctx, threads)) return -1;
    gr_rng_seed(&ctx->rng, cfg->seed);
    ctx->seed = (uint64_t)cfg->seed;
    return 0;
}

/* Everything that can be checked without allocating tensors: names, data
 * headers (the files kept open), shapes against data, plans laid out, the
 * checkpoint path, memory, labels; then the data read through the same
 * descriptors. */
static int check_everything(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    if ((s->loss = gr_session_find_node(s, cfg->loss, cfg->loss_at, "train.loss")) < 0) return -1;
    if (cfg->has_eval && (s->logits = gr_session_find_node(s, cfg->logits, cfg->logits_at, "eval.logits")) < 0)
        return -1;
    if (gr_session_uses_train(s) && open_split(s, &s->train, &cfg->train_data, "data.train")) return -1;
    if (gr_session_uses_test(s) && open_split(s, &s->test, &cfg->test_data, "data.test")) return -1;
    if (gr_session_check_inputs(s) || gr_session_lay_out_plans(s) || gr_session_check_logits(s)) return -1;
    if (gr_session_uses_train(s) && cfg->checkpoint && gr_probe_writable(s->ctx, cfg->checkpoint))
        return gr_session_fail_at_key(s, cfg->checkpoint_at, "train.checkpoint.path");
    if (gr_session_check_memory(s)) return -1;
    /* check reads the labels (to check them) but not the images */
    int images = s->mode != GR_SESSION_CHECK;
    if (gr_session_uses_train(s) && read_split(s, &s->train, &cfg->train_data, "data.train", images)) return -1;
    if (gr_session_uses_test(s) && read_split(s, &s->test, &cfg->test_data, "data.test", images)) return -1;
    return gr_session_check_labels(s);
}

int gr_session_ready(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    struct gr_ctx *ctx = s->ctx;
    if (check_everything(s)) return -1;
    s->eval_samples = cfg->eval_samples ? cfg->eval_samples : s->test.n;
    s->steps = cfg->steps ? cfg->steps : (cfg->epochs * s->train.n + cfg->batch_size - 1) / cfg->batch_size;
    /* check and summary report the laid-out plans and parameters */
    if (s->mode == GR_SESSION_CHECK) return gr_graph_layout_params(&s->g);

    if (make_plans(s)) return -1;
    if (s->mode == GR_SESSION_TRAIN) {
        /* the trainable parameters lead the block; the rest (state,
         * trainable: false) is never the optimizer's */
        if (gr_optim_init(ctx, &s->opt, &cfg->optim, s->g.trainable_floats)) return -1;
        if (gr_sampler_init(ctx, &s->sampler, s->train.n, &ctx->rng)) return -1;
    }
    int64_t most = cfg->batch_size > cfg->eval_batch ? cfg->batch_size : cfg->eval_batch;
    s->idx = gr_alloc(ctx, (size_t)most * sizeof *s->idx);
    return s->idx ? 0 : -1;
}

void gr_session_close(struct gr_session *s) {
    if (!s->ctx) return;
    gr_free(s->ctx, s->idx);
    gr_sampler_free(s->ctx, &s->sampler);
    gr_optim_free(s->ctx, &s->opt);
    gr_plan_free(&s->ep);
    gr_plan_free(&s->tp);
    gr_graph_free(&s->g);
    gr_dataset_free(s->ctx, &s->train);
    gr_dataset_free(s->ctx, &s->test);
    memset(s, 0, sizeof *s);
}

float gr_session_step(struct gr_session *s) {
    gr_sampler_next(&s->sampler, &s->ctx->rng, s->cfg->batch_size, s->idx);
    gr_session_feed(s, &s->tp, &s->train, s->cfg->batch_size);
    s->tp.step = ++s->step;
    gr_plan_forward(&s->tp);
    gr_plan_zero_grad(&s->tp);
    gr_plan_backward(&s->tp);
    float loss = *(const float *)s->tp.val[s->loss].data;
    s->fault = !isfinite(loss) || !gr_plan_grads_finite(&s->tp);
    if (!s->fault) gr_optim_step(&s->opt, s->ctx->pool, s->g.param, s->g.grad);
    return loss;
}

