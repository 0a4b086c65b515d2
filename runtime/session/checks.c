#include "runtime/session/checks.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops/core.h"
#include "runtime/base/ctx.h"
#include "runtime/base/text.h"
#include "runtime/session/datasets.h"
#include "runtime/session/optimize.h"
#include "runtime/session/leaves.h"
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
    /* the node whose name an override removed or changed, and the override */
    const struct gr_ynode *g = s->cfg->graph, *named = NULL, *now = NULL;
    const char *by = NULL;
    for (int k = 0; g && g->kind == GR_Y_SEQ && k < g->n && !by; k++)
        if (g->items[k]->kind == GR_Y_MAP && (by = gr_ymap_removed_as(g->items[k], "name", name))) named = g->items[k];
    if (named) now = gr_ymap_get(named, "name");
    if (g && gr_ymap_removed_by(g, name))
        gr_fail_missing(s->ctx, s->cfg->path, g, name, "%s: no node named '%s'", what, name);
    else if (now && now->kind == GR_Y_SCALAR)
        gr_fail(s->ctx, "%s: %s: no node named '%s' (its node is now named '%s')", by, what, name, now->str);
    else if (named)
        gr_fail(s->ctx, "%s: %s: no node named '%s' (its node's name was removed)", by, what, name);
    else if (near)
        gr_fail_node(s->ctx, s->cfg->path, at, "%s: no node named '%s' (did you mean '%s'?)", what, name, near);
    else gr_fail_node(s->ctx, s->cfg->path, at, "%s: no node named '%s' in the graph", what, name);
    return -1;
}

/* The error in ctx->err, put at a config key. */
int gr_session_fail_at_key(struct gr_session *s, const struct gr_ynode *at, const char *what) {
    char msg[GR_ERRBUF];
    snprintf(msg, sizeof msg, "%s", s->ctx->err);
    return gr_fail_node(s->ctx, s->cfg->path, at, "%s: %s", what, msg);
}

static double gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

/* The memory a run will hold, from shapes and headers alone (the plans are
 * laid out, not made), against what the machine has: a config that cannot
 * fit fails here, not in malloc. */
int gr_session_check_memory(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    /* by leaves: the other threads' plans and the leaves' gradients too */
    double train_plan = (double)s->tp.arena_bytes + gr_leaves_bytes(s);
    size_t eval_plan = s->ep.arena_bytes;
    double params = 0;
    for (int i = 0; i < s->g.n; i++)
        if (s->g.nodes[i].op->flags & GR_OP_PARAM) params += (double)gr_shape_count(&s->g.nodes[i].shape);
    /* values and gradients, and in training the optimizer's states and early stopping's copy */
    params *= (gr_session_uses_train(s) ? 2.0 + gr_session_param_copies(s) : 2.0) * sizeof(float);
    double data = gr_session_data_bytes(s);
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
int gr_session_verify_feed(struct gr_session *s, const struct gr_plan *p, const struct gr_split *sp) {
    for (int o = 0; o < p->n_order; o++) {
        int i = p->order[o];
        const struct gr_node *nd = &s->g.nodes[i];
        if (!(nd->op->flags & GR_OP_INPUT)) continue;
        int k = gr_split_array(sp, nd);
        const struct gr_data_array *x = k >= 0 ? &sp->d->arrays[k] : NULL;
        int64_t per = per_sample(nd);
        if (!x || !x->data || x->per_sample != per || sp->n > sp->d->n ||
            p->val_cap[i] < (size_t)(p->cap * per) * sizeof(float))
            return gr_fail(s->ctx, "%s: what was read (%lld samples of %lld values) does not fit node '%s' (%lld "
                                   "values a sample)",
                           sp->name, (long long)sp->n, (long long)(x ? x->per_sample : 0), nd->name, (long long)per);
    }
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
 * are logits, as large as the largest set it evaluates needs. */
/* The training plan refused its loss (not one float, no parameter behind
 * it): where an override chose train.loss, the error leads with it. */
static int loss_refused(struct gr_session *s) {
    const struct gr_ynode *at = s->cfg->loss_at;
    if (!at || !at->origin || !strncmp(s->ctx->err, "--", 2)) return -1;
    char msg[GR_ERRBUF];
    snprintf(msg, sizeof msg, "%s", s->ctx->err);
    return gr_fail(s->ctx, "%s: train.loss: %s", at->origin, msg);
}

int gr_session_lay_out_plans(struct gr_session *s, int64_t part) {
    const struct gr_config *cfg = s->cfg;
    if (gr_session_uses_train(s)) {
        /* this rank's part of each batch, then by leaves when it can (leaves.h) */
        if (part < 1) part = cfg->batch_size; /* more ranks than rows: gr_parallel_check says so */
        if (gr_plan_layout(&s->tp, &s->g, part, &s->loss, 1, s->loss)) return loss_refused(s);
        s->leaves = gr_leaves_count(s, part);
        if (s->leaves < 0) return -1;
        if (s->leaves > 1) {
            gr_plan_free(&s->tp);
            if (gr_plan_layout(&s->tp, &s->g, part / s->leaves, &s->loss, 1, s->loss)) return -1;
        }
    }
    if (s->logits < 0) return 0;
    int64_t most = 0;
    if (s->valid_set.d) most = s->valid_set.n;
    if (s->test_set.d && s->test_set.n > most) most = s->test_set.n;
    int64_t eb = most > 0 && most < cfg->eval_batch ? most : cfg->eval_batch;
    return gr_plan_layout(&s->ep, &s->g, eb, &s->logits, 1, -1);
}

/* The samples the file itself held out of n for validation, where an
 * override replaced or added data.validation: its old count or fraction
 * (0 where the file had none). */
static int64_t file_holdout(const struct gr_config *cfg, int64_t n) {
    const struct gr_ynode *data = cfg->doc.root ? gr_ymap_get(cfg->doc.root, "data") : NULL;
    const char *old = NULL;
    for (const struct gr_yremoved *r = data ? data->replaced : NULL; r && !old; r = r->next)
        if (!strcmp(r->key, "validation")) old = r->value;
    double v = old ? strtod(old, NULL) : 0;
    if (v > 0 && v < 1) {
        int64_t k = llround(v * (double)n);
        return k > 0 ? k : 1;
    }
    return v >= 1 ? (int64_t)v : 0;
}

/* The override that made set d (its config sc, `held` of its samples held
 * out for validation, `held_rows` had it no limit) hold fewer than `want`
 * where the file alone would have held them: its limit, where that cut the
 * files' rows, or data.validation; NULL if none did. */
static const char *shrunk_by(const struct gr_config *cfg, const struct gr_split_cfg *sc, const struct gr_dataset *d,
                             int64_t want, int64_t held, int64_t held_rows) {
    const struct gr_ynode *lim = sc->at ? gr_ymap_get(sc->at, "limit") : NULL, *v = cfg->data.validation_at;
    if (lim && lim->origin && d->n < d->rows && d->rows - held_rows >= want) return lim->origin;
    if (held > 0 && v && v->origin && d->n - file_holdout(cfg, d->n) >= want) return v->origin;
    return NULL;
}

/* A count too large for a set: at its key, or, where the key is the
 * file's and an override shrank the set, named by the override first. */
static int too_many(struct gr_session *s, const struct gr_ynode *at, const char *by, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int too_many(struct gr_session *s, const struct gr_ynode *at, const char *by, const char *fmt, ...) {
    char msg[GR_ERRBUF];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (by && at && !at->origin)
        return gr_fail(s->ctx, "%s: %s (%s:%d:%d)", by, msg, s->cfg->path, at->line, at->col);
    return gr_fail_node(s->ctx, s->cfg->path, at, "%s", msg);
}

int gr_session_check_sizes(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    /* a validation set without a dataset of its own is held out of data.train */
    const int held_out = s->valid_set.d == &s->train;
    const int64_t held = held_out ? s->valid_set.n : 0, held_rows = held_out ? gr_data_cfg_holdout(&cfg->data, s->train.rows) : 0;
    if (gr_session_uses_train(s) && cfg->batch_size > s->train_set.n)
        return too_many(s, cfg->batch_size_at,
                        shrunk_by(cfg, &cfg->data.train, &s->train, cfg->batch_size, held, held_rows),
                        "train.batch_size: %lld is larger than the %lld training samples", (long long)cfg->batch_size,
                        (long long)s->train_set.n);
    if (!gr_session_uses_train(s) || s->logits < 0 || cfg->eval_samples <= s->eval_set->n) return 0;
    const int64_t want = cfg->eval_samples;
    const struct gr_ynode *v = cfg->data.validation_at, *lim = gr_ymap_get(cfg->data.train.at, "limit");
    const char *by = NULL;
    if (s->eval_set == &s->test_set) {
        by = shrunk_by(cfg, &cfg->data.test, &s->test, want, 0, 0);
    } else if (!held_out) {
        by = shrunk_by(cfg, &cfg->data.validation, &s->valid, want, 0, 0);
    } else if (lim && lim->origin && s->train.n < s->train.rows && held_rows >= want) {
        by = lim->origin; /* the set is a fraction of data.train, which the limit cut */
    } else if (v && v->origin && file_holdout(cfg, s->train.n) >= want) {
        by = v->origin; /* the count (or fraction) held out is the set */
    }
    /* eval.on chose this set where the other would have held them */
    const struct gr_split *other = s->eval_set == &s->test_set ? &s->valid_set : &s->test_set;
    if (!by && cfg->eval_on_at && cfg->eval_on_at->origin && other->d && other->n >= want) by = cfg->eval_on_at->origin;
    return too_many(s, cfg->eval_samples_at, by, "eval.samples: %lld is more than the %lld %s samples", (long long)want,
                    (long long)s->eval_set->n, s->eval_set->what);
}
