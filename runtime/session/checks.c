#include "runtime/session/checks.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ops/core.h"
#include "runtime/base/ctx.h"
#include "runtime/base/text.h"
#include "runtime/session/optimize.h"
#include "runtime/session/state.h"
#include "runtime/yaml/check.h"

/* A node named in the config, or an error at the naming key. */
int gr_session_find_node(struct gr_session *s, const char *name, const struct gr_ynode *at, const char *what) {
    int i = gr_graph_find(&s->g, name);
    if (i >= 0 && !(s->g.nodes[i].op->flags & GR_OP_PARAM)) return i;
    struct gr_suggest sg;
    gr_suggest_init(&sg, name);
    for (int k = 0; k < s->g.n; k++)
        if (!(s->g.nodes[k].op->flags & GR_OP_PARAM)) gr_suggest_offer(&sg, s->g.nodes[k].name);
    const char *near = gr_suggest_best(&sg);
    if (near) gr_fail_node(s->ctx, s->cfg->path, at, "%s: no node named '%s' (did you mean '%s'?)", what, name, near);
    else gr_fail_node(s->ctx, s->cfg->path, at, "%s: no node named '%s' in the graph", what, name);
    return -1;
}

/* The error in ctx->err, put at a config key. */
int gr_session_fail_at_key(struct gr_session *s, const struct gr_ynode *at, const char *what) {
    char msg[GR_ERRBUF];
    snprintf(msg, sizeof msg, "%s", s->ctx->err);
    return gr_fail_node(s->ctx, s->cfg->path, at, "%s: %s", what, msg);
}

/* The input node an int32 value comes from, through the ops that carry it
 * (reshape, slice, ...: each int32 node's first input), or -1. */
static int index_source(const struct gr_graph *g, int i) {
    while (i >= 0 && g->nodes[i].dtype == GR_I32) {
        const struct gr_node *nd = &g->nodes[i];
        if (nd->op->flags & GR_OP_INPUT) return i;
        i = nd->n_user > 0 ? nd->in[0] : -1;
    }
    return -1;
}

/* The classes a label indexes: the logits' last axis (evaluation counts each
 * label against the argmax), and every index limit an op declares for an
 * input fed by the labels, however reshaped or sliced on the way
 * (gr_infer.index_limit: a loss's classes, an embedding's rows). Returns the
 * smallest, or 0. */
static int64_t label_classes(struct gr_session *s, const char **who) {
    struct gr_graph *g = &s->g;
    int64_t classes = 0;
    *who = NULL;
    if (s->logits >= 0) {
        const struct gr_node *lg = &g->nodes[s->logits];
        classes = lg->shape.dim[lg->shape.rank - 1];
        *who = lg->name;
    }
    for (int i = 0; i < g->n; i++) {
        const struct gr_node *nd = &g->nodes[i];
        if (nd->op->flags & (GR_OP_INPUT | GR_OP_PARAM)) continue;
        struct gr_infer inf;
        gr_node_infer_args(g, i, g->batch, 1, NULL, NULL, &inf);
        if (nd->op->infer(&inf)) continue; /* it passed when the graph was built */
        for (int k = 0; k < nd->n_user; k++) {
            int src = index_source(g, nd->in[k]);
            int64_t c = inf.index_limit[k];
            if (c <= 0 || src < 0 || g->nodes[src].attrs[GR_INPUT_DATA].i != GR_INPUT_LABELS) continue;
            if (classes == 0 || c < classes) {
                classes = c;
                *who = nd->name;
            }
        }
    }
    return classes;
}

/* Every label must index a class: named with its position when not. */
int gr_session_check_labels(struct gr_session *s) {
    const char *who;
    int64_t classes = label_classes(s, &who);
    if (classes <= 0) return 0;
    const struct gr_dataset *sets[2] = {&s->train, &s->test};
    const struct gr_data_paths *paths[2] = {&s->cfg->train_data, &s->cfg->test_data};
    const char *names[2] = {"data.train.labels", "data.test.labels"};
    int read[2] = {gr_session_uses_train(s), gr_session_uses_test(s)};
    for (int k = 0; k < 2; k++) {
        if (!read[k]) continue;
        int64_t at = gr_dataset_find_label(sets[k], (int)(classes > 255 ? 255 : classes));
        if (at >= 0 && sets[k]->labels.data[at] >= classes)
            return gr_fail_node(s->ctx, s->cfg->path, paths[k]->labels_at,
                                "%s: label %d at index %lld is out of range: node '%s' has %lld classes", names[k],
                                sets[k]->labels.data[at], (long long)at, who, (long long)classes);
    }
    return 0;
}

static double gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

/* The memory a run will hold, from shapes and headers alone (the plans are
 * laid out, not made), against what the machine has: a config that cannot
 * fit fails here, not in malloc. */
int gr_session_check_memory(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    size_t train_plan = s->tp.arena_bytes, eval_plan = s->ep.arena_bytes;
    double params = 0;
    for (int i = 0; i < s->g.n; i++)
        if (s->g.nodes[i].op->flags & GR_OP_PARAM) params += (double)gr_shape_count(&s->g.nodes[i].shape);
    /* values and gradients, and in training the optimizer's states and early stopping's copy */
    params *= (gr_session_uses_train(s) ? 2.0 + gr_session_param_copies(s) : 2.0) * sizeof(float);
    double data = 0;
    if (gr_session_uses_train(s)) data += (double)s->train.images.dim[0] * (double)(s->train.sample_size + 1 + 4);
    if (gr_session_uses_test(s)) data += (double)s->test.images.dim[0] * (double)(s->test.sample_size + 1);
    double need = (double)train_plan + (double)eval_plan + params + data;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    double have = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
    double limit = s->ctx->mem_limit ? (double)s->ctx->mem_limit : 0.9 * have;
    if (limit > 0 && need > limit)
        return gr_fail_node(s->ctx, cfg->path, cfg->batch_size_at,
                            "the run would need %.1f GiB (training plan %.1f, evaluation plan %.1f, parameters %.1f, "
                            "data %.1f) but this machine has %.1f GiB of memory%s",
                            gib(need), gib((double)train_plan), gib((double)eval_plan), gib(params), gib(data),
                            gib(have), s->ctx->mem_limit ? " (and the context allows less)" : "");
    return 0;
}

/* Values in one sample of node nd (its shape without the batch axis). */
static int64_t per_sample(const struct gr_node *nd) { return gr_shape_count(&nd->shape) / nd->shape.dim[0]; }

/* What was read must fill the plans' inputs exactly: n samples of the
 * input's size, into a buffer that holds a full batch of them. */
int gr_session_verify_feed(struct gr_session *s, const struct gr_plan *p, const struct gr_dataset *d, const char *what) {
    for (int o = 0; o < p->n_order; o++) {
        int i = p->order[o];
        const struct gr_node *nd = &s->g.nodes[i];
        if (!(nd->op->flags & GR_OP_INPUT)) continue;
        int images = nd->attrs[GR_INPUT_DATA].i == GR_INPUT_IMAGES;
        int64_t per = images ? d->sample_size : 1;
        const struct gr_idx *x = images ? &d->images : &d->labels;
        if ((images && per != per_sample(nd)) || x->bytes < (size_t)(d->n * per) ||
            p->val_cap[i] < (size_t)(p->cap * per) * sizeof(float))
            return gr_fail(s->ctx, "%s: what was read (%lld samples of %lld values) does not fit node '%s' (%lld "
                                   "values a sample)",
                           what, (long long)d->n, (long long)per, nd->name, (long long)per_sample(nd));
    }
    return 0;
}

/* Checks that need both the graph and the data. */
int gr_session_check_inputs(struct gr_session *s) {
    char sh[96];
    const struct gr_dataset *sets[2] = {&s->train, &s->test};
    int open[2] = {gr_session_uses_train(s), gr_session_uses_test(s)};
    const struct gr_node *first = NULL;
    for (int i = 0; i < s->g.n; i++) {
        const struct gr_node *nd = &s->g.nodes[i];
        if (!(nd->op->flags & GR_OP_INPUT) || nd->attrs[GR_INPUT_DATA].i != GR_INPUT_IMAGES) continue;
        int64_t per = per_sample(nd);
        for (int k = 0; k < 2; k++) {
            const struct gr_dataset *d = sets[k];
            if (!open[k] || per == d->sample_size) continue;
            struct gr_shape img = {d->sample_rank, {0}};
            for (int r = 0; r < img.rank; r++) img.dim[r] = d->sample_dim[r];
            return gr_node_fail(&s->g, i, GR_INPUT_SHAPE,
                                "shape holds %lld values per sample, but the images are %s (%lld values)",
                                (long long)per, gr_shape_format(&img, sh, sizeof sh), (long long)d->sample_size);
        }
        /* without data (predict) every image input reads the same image */
        if (first && per != per_sample(first))
            return gr_node_fail(&s->g, i, GR_INPUT_SHAPE,
                                "shape holds %lld values per sample, but input '%s' holds %lld; every image input "
                                "reads the same image",
                                (long long)per, first->name, (long long)per_sample(first));
        first = first ? first : nd;
    }
    if (gr_session_uses_train(s) && s->cfg->batch_size > s->train.n)
        return gr_fail_node(s->ctx, s->cfg->path, s->cfg->batch_size_at,
                            "train.batch_size: %lld is larger than the %lld training samples",
                            (long long)s->cfg->batch_size, (long long)s->train.n);
    if (gr_session_uses_train(s) && s->logits >= 0 && s->cfg->eval_samples > s->test.n)
        return gr_fail_node(s->ctx, s->cfg->path, s->cfg->eval_samples_at,
                            "eval.samples: %lld is more than the %lld test samples", (long long)s->cfg->eval_samples,
                            (long long)s->test.n);
    return 0;
}

/* eval.logits must be float32 [batch, classes] whose first axis is the
 * batch: it depends on an input, and at the batches evaluation runs (the last
 * one smaller, down to a single sample) it infers and keeps [batch, classes].
 * A node that matches the batch by coincidence (a parameter, or one
 * broadcast against a parameter as long as the batch) fails one of these. */
int gr_session_check_logits(struct gr_session *s) {
    if (s->logits < 0) return 0;
    const struct gr_node *lg = &s->g.nodes[s->logits];
    const struct gr_ynode *at = s->cfg->logits_at;
    char sh[96];
    if (lg->shape.rank != 2 || lg->dtype != GR_F32)
        return gr_fail_node(s->ctx, s->cfg->path, at,
                            "eval.logits: node '%s' must be float32 [batch, classes], its shape is %s", lg->name,
                            gr_shape_format(&lg->shape, sh, sizeof sh));
    int fed = 0;
    for (int o = 0; o < s->ep.n_order; o++) fed |= (s->g.nodes[s->ep.order[o]].op->flags & GR_OP_INPUT) != 0;
    if (!fed)
        return gr_fail_node(s->ctx, s->cfg->path, at,
                            "eval.logits: node '%s' does not depend on any input, so its first axis is not the batch "
                            "(its shape %s matches the batch size only by coincidence)",
                            lg->name, gr_shape_format(&lg->shape, sh, sizeof sh));
    struct gr_shape *shapes = gr_calloc(s->ctx, (size_t)s->g.n, sizeof *shapes);
    enum gr_dtype *dtypes = gr_calloc(s->ctx, (size_t)s->g.n, sizeof *dtypes);
    int rc = shapes && dtypes ? 0 : -1;
    int64_t cap = s->ep.cap, probes[3] = {1, 2, cap - 1};
    for (int k = 0; k < 3 && rc == 0; k++) {
        int64_t b = probes[k];
        if (b < 1 || b >= cap || (k == 2 && b <= 2)) continue;
        if (gr_plan_shapes_at(&s->ep, b, shapes, dtypes)) {
            char msg[GR_ERRBUF];
            snprintf(msg, sizeof msg, "%s", s->ctx->err);
            rc = gr_fail(s->ctx, "%s (at a batch of %lld: evaluation runs batches of 1 to %lld samples, so no axis may "
                                 "be tied to the batch size)", msg, (long long)b, (long long)cap);
        } else if (shapes[s->logits].dim[0] != b || shapes[s->logits].dim[1] != lg->shape.dim[1]) {
            char was[96];
            rc = gr_fail_node(s->ctx, s->cfg->path, at,
                              "eval.logits: node '%s' is %s at a batch of %lld but %s at a batch of %lld: its first "
                              "axis is not the batch",
                              lg->name, gr_shape_format(&s->ep.val[s->logits].shape, was, sizeof was), (long long)cap,
                              gr_shape_format(&shapes[s->logits], sh, sizeof sh), (long long)b);
        }
    }
    gr_free(s->ctx, shapes);
    gr_free(s->ctx, dtypes);
    return rc;
}

/* The plans laid out (shapes, sizes and their checks; nothing held): the
 * training plan for training and check, the evaluation plan wherever there
 * are logits. */
int gr_session_lay_out_plans(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    if (gr_session_uses_train(s) && gr_plan_layout(&s->tp, &s->g, cfg->batch_size, &s->loss, 1, s->loss)) return -1;
    if (s->logits < 0) return 0;
    int64_t eb = gr_session_uses_test(s) && s->test.n < cfg->eval_batch ? s->test.n : cfg->eval_batch;
    return gr_plan_layout(&s->ep, &s->g, eb, &s->logits, 1, -1);
}

