#include "runtime/session/train.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "models/builder.h"
#include "ops/core.h"
#include "runtime/yaml/check.h"
#include "runtime/session/checkpoint.h"
#include "runtime/base/clock.h"
#include "runtime/base/ctx.h"
#include "runtime/host/host.h"
#include "runtime/base/fs.h"
#include "runtime/base/text.h"
#include "runtime/host/threads.h"


/* A node named in the config, or an error at the naming key. */
static int find_node(struct gr_session *s, const char *name, const struct gr_ynode *at, const char *what) {
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

/* The splits a session reads: training needs both, eval the test set,
 * predict none. */
static int uses_train(const struct gr_session *s) { return s->mode == GR_SESSION_TRAIN || s->mode == GR_SESSION_CHECK; }
static int uses_test(const struct gr_session *s) { return s->mode != GR_SESSION_PREDICT; }

/* The error in ctx->err, put at a config key. */
static int fail_at_key(struct gr_session *s, const struct gr_ynode *at, const char *what) {
    char msg[GR_ERRBUF];
    snprintf(msg, sizeof msg, "%s", s->ctx->err);
    return gr_fail_node(s->ctx, s->cfg->path, at, "%s: %s", what, msg);
}

/* Open one split: headers checked, files kept open until read. */
static int open_split(struct gr_session *s, struct gr_dataset *d, const struct gr_data_paths *p, const char *what) {
    if (gr_dataset_open(s->ctx, d, p->images, p->labels)) return fail_at_key(s, p->images_at, what);
    if (p->limit && p->limit < d->n) d->n = p->limit;
    return 0;
}

/* Read an opened split through the descriptors its headers were checked with. */
static int read_split(struct gr_session *s, struct gr_dataset *d, const struct gr_data_paths *p, const char *what,
                      int with_images) {
    if (gr_dataset_read(s->ctx, d, p->images, p->labels, with_images)) return fail_at_key(s, p->images_at, what);
    return 0;
}

/* The classes a label indexes: the logits' last axis (evaluation counts each
 * label against the argmax), and the logits' last axis of every
 * softmax_cross_entropy that takes class indices. Labels are the only int32
 * data, so any int32 index reaching such an op, however reshaped or sliced on
 * the way, is a label. Returns the smallest, or 0. */
static int64_t label_classes(const struct gr_session *s, const char **who) {
    int64_t classes = 0;
    *who = NULL;
    if (s->logits >= 0) {
        const struct gr_node *lg = &s->g.nodes[s->logits];
        classes = lg->shape.dim[lg->shape.rank - 1];
        *who = lg->name;
    }
    for (int i = 0; i < s->g.n; i++) {
        const struct gr_node *nd = &s->g.nodes[i];
        if (strcmp(nd->op->name, "softmax_cross_entropy") != 0 || nd->n_user < 2) continue;
        if (s->g.nodes[nd->in[1]].dtype != GR_I32) continue;
        const struct gr_shape *x = &s->g.nodes[nd->in[0]].shape;
        int64_t c = x->dim[x->rank - 1];
        if (classes == 0 || c < classes) {
            classes = c;
            *who = nd->name;
        }
    }
    return classes;
}

/* Every label must index a class: named with its position when not. */
static int check_labels(struct gr_session *s) {
    const char *who;
    int64_t classes = label_classes(s, &who);
    if (classes <= 0) return 0;
    const struct gr_dataset *sets[2] = {&s->train, &s->test};
    const struct gr_data_paths *paths[2] = {&s->cfg->train_data, &s->cfg->test_data};
    const char *names[2] = {"data.train.labels", "data.test.labels"};
    int read[2] = {uses_train(s), uses_test(s)};
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
static int check_memory(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    size_t train_plan = s->tp.arena_bytes, eval_plan = s->ep.arena_bytes;
    double params = 0;
    for (int i = 0; i < s->g.n; i++)
        if (s->g.nodes[i].op->flags & GR_OP_PARAM) params += (double)gr_shape_count(&s->g.nodes[i].shape);
    /* values and gradients, and in training two optimizer moments */
    params *= (uses_train(s) ? 4.0 : 2.0) * sizeof(float);
    double data = 0;
    if (uses_train(s)) data += (double)s->train.images.dim[0] * (double)(s->train.sample_size + 1 + 4);
    if (uses_test(s)) data += (double)s->test.images.dim[0] * (double)(s->test.sample_size + 1);
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

/* Fill every input node the plan runs from samples idx[0..n) (verify_feed
 * checked once that they fit). */
static void feed(struct gr_session *s, struct gr_plan *p, const struct gr_dataset *d, int64_t n) {
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

/* Values in one sample of node nd (its shape without the batch axis). */
static int64_t per_sample(const struct gr_node *nd) { return gr_shape_count(&nd->shape) / nd->shape.dim[0]; }

/* What was read must fill the plans' inputs exactly: n samples of the
 * input's size, into a buffer that holds a full batch of them. */
static int verify_feed(struct gr_session *s, const struct gr_plan *p, const struct gr_dataset *d, const char *what) {
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
static int check_inputs(struct gr_session *s) {
    char sh[96];
    const struct gr_dataset *sets[2] = {&s->train, &s->test};
    int open[2] = {uses_train(s), uses_test(s)};
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
    if (uses_train(s) && s->cfg->batch_size > s->train.n)
        return gr_fail_node(s->ctx, s->cfg->path, s->cfg->batch_size_at,
                            "train.batch_size: %lld is larger than the %lld training samples",
                            (long long)s->cfg->batch_size, (long long)s->train.n);
    if (uses_train(s) && s->logits >= 0 && s->cfg->eval_samples > s->test.n)
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
static int check_logits(struct gr_session *s) {
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
static int lay_out_plans(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    if (uses_train(s) && gr_plan_layout(&s->tp, &s->g, cfg->batch_size, &s->loss, 1, s->loss)) return -1;
    if (s->logits < 0) return 0;
    int64_t eb = uses_test(s) && s->test.n < cfg->eval_batch ? s->test.n : cfg->eval_batch;
    return gr_plan_layout(&s->ep, &s->g, eb, &s->logits, 1, -1);
}

/* The parameters and the plans a running session holds. */
static int make_plans(struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    int64_t eb = s->ep.cap;
    gr_plan_free(&s->tp);
    gr_plan_free(&s->ep);
    if (gr_graph_alloc_params(&s->g)) return -1;
    if (uses_train(s)) {
        if (gr_plan_init(&s->tp, &s->g, cfg->batch_size, &s->loss, 1, s->loss)) return -1;
        if (verify_feed(s, &s->tp, &s->train, "data.train")) return -1;
    }
    if (s->logits >= 0) {
        if (gr_plan_init(&s->ep, &s->g, eb, &s->logits, 1, -1)) return -1;
        if (uses_test(s) && verify_feed(s, &s->ep, &s->test, "data.test")) return -1;
    }
    return 0;
}

int gr_session_open(struct gr_ctx *ctx, struct gr_session *s, const struct gr_config *cfg,
                    const struct gr_train_opts *opts) {
    memset(s, 0, sizeof *s);
    s->ctx = ctx;
    s->cfg = cfg;
    s->mode = opts ? opts->mode : GR_SESSION_TRAIN;
    s->out = opts ? opts->out : NULL;
    s->loss = s->logits = -1;
    gr_graph_init(&s->g, ctx, cfg->path);
    int threads = opts && opts->threads >= 0 ? opts->threads : cfg->threads;
    if (gr_ctx_set_threads(ctx, threads)) return -1;
    gr_rng_seed(&ctx->rng, cfg->seed);

    /* everything that can be checked without allocating tensors first */
    if (gr_config_load_plugins(ctx, cfg)) return -1;
    if (gr_build_graph(ctx, &s->g, cfg->path, cfg->graph, cfg->batch_size)) return -1;
    if ((s->loss = find_node(s, cfg->loss, cfg->loss_at, "train.loss")) < 0) return -1;
    if (cfg->has_eval && (s->logits = find_node(s, cfg->logits, cfg->logits_at, "eval.logits")) < 0) return -1;
    /* headers first, the files kept open: every check that needs only shapes
     * and counts, then the data read through the same descriptors */
    if (uses_train(s) && open_split(s, &s->train, &cfg->train_data, "data.train")) return -1;
    if (uses_test(s) && open_split(s, &s->test, &cfg->test_data, "data.test")) return -1;
    if (check_inputs(s) || lay_out_plans(s) || check_logits(s)) return -1;
    if (uses_train(s) && cfg->checkpoint && gr_checkpoint_probe(ctx, cfg->checkpoint))
        return fail_at_key(s, cfg->checkpoint_at, "train.checkpoint.path");
    if (check_memory(s)) return -1;
    /* check reads the labels (to check them) but not the images */
    int images = s->mode != GR_SESSION_CHECK;
    if (uses_train(s) && read_split(s, &s->train, &cfg->train_data, "data.train", images)) return -1;
    if (uses_test(s) && read_split(s, &s->test, &cfg->test_data, "data.test", images)) return -1;
    if (check_labels(s)) return -1;
    s->eval_samples = cfg->eval_samples ? cfg->eval_samples : s->test.n;
    s->steps = cfg->steps ? cfg->steps : (cfg->epochs * s->train.n + cfg->batch_size - 1) / cfg->batch_size;
    /* check and summary report the laid-out plans and parameters */
    if (s->mode == GR_SESSION_CHECK) return gr_graph_layout_params(&s->g);

    if (make_plans(s)) return -1;
    if (s->mode == GR_SESSION_TRAIN) {
        if (gr_optim_init(ctx, &s->opt, &cfg->optim, s->g.param_floats)) return -1;
        if (gr_sampler_init(ctx, &s->sampler, s->train.n, &ctx->rng)) return -1;
    }
    int64_t most = cfg->batch_size > cfg->eval_batch ? cfg->batch_size : cfg->eval_batch;
    s->idx = gr_alloc(ctx, (size_t)most * sizeof *s->idx);
    if (!s->idx) return -1;
    return 0;
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
    feed(s, &s->tp, &s->train, s->cfg->batch_size);
    gr_plan_forward(&s->tp);
    gr_plan_zero_grad(&s->tp);
    gr_plan_backward(&s->tp);
    float loss = *(const float *)s->tp.val[s->loss].data;
    s->fault = !isfinite(loss) || !gr_plan_grads_finite(&s->tp);
    if (!s->fault) gr_optim_step(&s->opt, s->ctx->pool, s->g.param, s->g.grad);
    return loss;
}

double gr_session_accuracy(struct gr_session *s, int64_t n) {
    GR_ASSERT(s->logits >= 0 && n <= s->test.n);
    int64_t correct = 0;
    for (int64_t start = 0; start < n; start += s->ep.cap) {
        int64_t m = n - start < s->ep.cap ? n - start : s->ep.cap;
        for (int64_t k = 0; k < m; k++) s->idx[k] = (int32_t)(start + k);
        int rc = gr_plan_set_batch(&s->ep, m);
        GR_ASSERT(rc == 0); /* shapes shrink with the batch */
        feed(s, &s->ep, &s->test, m);
        gr_plan_forward(&s->ep);
        const float *y = s->ep.val[s->logits].data;
        int64_t c = s->ep.val[s->logits].shape.dim[1];
        for (int64_t k = 0; k < m; k++) {
            int64_t best = 0;
            for (int64_t j = 1; j < c; j++)
                if (y[k * c + j] > y[k * c + best]) best = j;
            correct += best == s->test.labels.data[start + k];
        }
    }
    return (double)correct / (double)n;
}

/* Explain a non-finite loss or gradient: the step and the first node. */
static int fault_message(struct gr_session *s, int64_t step, float loss, const struct gr_train_result *res) {
    int in_grad = 0;
    int i = gr_plan_find_nonfinite(&s->tp, &in_grad);
    char where[GR_ERRBUF];
    if (i < 0) {
        snprintf(where, sizeof where, "no node holds it any more");
    } else {
        const struct gr_node *nd = &s->g.nodes[i];
        if (nd->op->flags & GR_OP_PARAM && !in_grad)
            snprintf(where, sizeof where, "parameter '%s' holds inf or nan: the previous update overflowed", nd->name);
        else
            snprintf(where, sizeof where, "the first non-finite value is in the %s of node '%s' (%s)",
                     in_grad ? "gradient" : "output", nd->name, nd->op->name);
    }
    char kept[GR_ERRBUF] = "";
    if (res->checkpoint_step >= 0)
        snprintf(kept, sizeof kept, "; the checkpoint of step %lld (%.400s) is kept", (long long)res->checkpoint_step,
                 res->checkpoint_path);
    return gr_fail(s->ctx, "step %lld: %s is %s; %s. Training stopped%s (a smaller train.optimizer.lr may help)",
                   (long long)step, isfinite(loss) ? "the gradient" : "the loss",
                   isfinite(loss) ? "not finite" : (isnan(loss) ? "nan" : "infinite"), where, kept);
}

/* The effective config, each line behind "  | ", without the comment line
 * that opens cfg->run_text. */
static void print_config(const struct gr_config *cfg, FILE *out) {
    const char *text = cfg->run_text ? cfg->run_text : "", *nl = strchr(text, '\n');
    int n_sets = 0;
    for (const struct gr_str_list *o = cfg->origins; o; o = o->next) n_sets++;
    fprintf(out, "effective config (%s, %d override%s):\n", cfg->path, n_sets, n_sets == 1 ? "" : "s");
    for (const char *p = text[0] == '#' && nl ? nl + 1 : text; *p;) {
        const char *end = strchr(p, '\n');
        int n = end ? (int)(end - p) : (int)strlen(p);
        fprintf(out, "  | %.*s\n", n, p);
        p += n + (end ? 1 : 0);
    }
}

static void print_header(struct gr_session *s, FILE *out, int64_t start) {
    const struct gr_config *cfg = s->cfg;
    char a[64];
    int threads = gr_pool_threads(s->ctx->pool);
    struct gr_shape is = {s->train.sample_rank, {0}};
    for (int k = 0; k < is.rank; k++) is.dim[k] = s->train.sample_dim[k];
    fprintf(out, "graphrun: %s\n", cfg->path);
    fprintf(out, "  data:  %lld training and %lld test images of %s\n", (long long)s->train.n, (long long)s->test.n,
            gr_shape_format(&is, a, sizeof a));
    int n_nodes = 0;
    for (int i = 0; i < s->g.n; i++) n_nodes += !(s->g.nodes[i].op->flags & GR_OP_PARAM);
    fprintf(out, "  graph: %d nodes, %lld parameters\n", n_nodes, (long long)s->g.n_weights);
    fprintf(out, "  train: %s lr %g, batch %lld, %lld steps, seed %llu, %d thread%s\n",
            cfg->optim.desc->name, cfg->optim.lr, (long long)cfg->batch_size,
            (long long)s->steps, (unsigned long long)cfg->seed, threads, threads == 1 ? "" : "s");
    if (s->logits >= 0)
        fprintf(out, "  eval:  every %lld steps on the first %lld test images\n", (long long)cfg->eval_every,
                (long long)s->eval_samples);
    if (start > 1) fprintf(out, "  resumed after step %lld\n", (long long)(start - 1));
    fflush(out);
}

/* ---- the run folder --------------------------------------------------------- */

static const char csv_header[] = "step,epoch,loss,eval_accuracy,lr,wall_time\n";

/* The step of a complete metrics row (its text without the newline), or
 * -1 if the line is not one: CSV, the first of six fields; JSON lines, the
 * "step" member of an object. */
static int64_t row_step(const char *line, size_t n, int json) {
    if (json) {
        json_t *row = json_loadb(line, n, JSON_REJECT_DUPLICATES, NULL);
        json_t *step = json_object_get(row, "step");
        int64_t v = json_is_integer(step) ? (int64_t)json_integer_value(step) : -1;
        json_decref(row);
        return v;
    }
    int commas = 0;
    for (size_t i = 0; i < n; i++) commas += line[i] == ',';
    if (commas != 5) return -1;
    int64_t v = 0;
    size_t i = 0;
    for (; i < n && line[i] >= '0' && line[i] <= '9' && v < INT64_MAX / 10 - 9; i++) v = v * 10 + (line[i] - '0');
    return i > 0 && i < n && line[i] == ',' ? v : -1;
}

/* When a run resumes in its folder: keep the CSV header (written again if
 * a crash lost it) and the complete rows up to step `last`, in increasing
 * order; drop rows past the checkpoint (they will come again), a line cut
 * short by a crash, and anything else that is not a row. */
int gr_metrics_trim(struct gr_ctx *ctx, const char *path, int64_t last, int json) {
    char *text;
    size_t len, kept = 0;
    if (gr_read_text_file(ctx, path, (size_t)1 << 30, &text, &len)) return -1;
    int64_t prev = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        if (!nl) break; /* the last line, cut short */
        size_t n = (size_t)(nl - (text + at));
        int64_t step = row_step(text + at, n, json);
        if (step > prev && step <= last) {
            memmove(text + kept, text + at, n + 1);
            kept += n + 1;
            prev = step;
        }
        at += n + 1;
    }
    int rc = gr_replace_file(ctx, path, json ? "" : csv_header, text, kept);
    gr_free(ctx, text);
    return rc;
}

/* The metrics files, with their stdio buffers here so that no write during
 * training makes stdio allocate one, and the run folder's lock. */
struct run_files {
    FILE *csv, *jsonl;
    const char *dir;
    int lock_fd;
    char csv_buf[BUFSIZ], jsonl_buf[BUFSIZ];
};

/* The run folder: `dir` itself, or with `fresh`, a folder that did not
 * exist: dir, dir-2, dir-3, ... each made with mkdir, which only one of
 * two racing runs can win. The name used goes to out. */
static int make_run_dir(struct gr_ctx *ctx, const char *dir, int fresh, char *out, size_t len) {
    if (snprintf(out, len, "%s", dir) >= (int)len - 8) return gr_fail(ctx, "%s: path too long", dir);
    if (!fresh) return gr_mkdirs(ctx, out);
    char *slash = strrchr(out, '/');
    if (slash && slash != out) {
        *slash = 0;
        int rc = gr_mkdirs(ctx, out);
        *slash = '/';
        if (rc) return -1;
    }
    for (int k = 2; mkdir(out, 0755) != 0; k++) {
        if (errno != EEXIST || k > 1000) return gr_fail(ctx, "%s: cannot create: %s", out, strerror(errno));
        snprintf(out, len, "%s-%d", dir, k);
    }
    return 0;
}

/* One run at a time in a folder: a write lock on RUN/.lock, held until
 * close_run (the kernel drops it if the process dies). */
static int lock_run_dir(struct gr_ctx *ctx, const char *dir, int *fd_out) {
    char path[4300];
    snprintf(path, sizeof path, "%s/.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return gr_fail(ctx, "%s: cannot create the run folder's lock: %s", path, strerror(errno));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        int e = errno;
        struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        int known = fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK;
        close(fd);
        if (e != EACCES && e != EAGAIN) return gr_fail(ctx, "%s: cannot lock: %s", path, strerror(e));
        if (known)
            return gr_fail(ctx, "%s: the run folder is in use by another graphrun run (process %ld); wait for it or "
                                "choose another folder", dir, (long)who.l_pid);
        return gr_fail(ctx, "%s: the run folder is in use by another graphrun run; wait for it or choose another folder",
                       dir);
    }
    *fd_out = fd;
    return 0;
}

static int write_config_file(struct gr_ctx *ctx, const struct gr_config *cfg, const char *dir) {
    char path[4300];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f) return gr_fail(ctx, "%s: cannot write: %s", path, strerror(errno));
    int e = fputs(cfg->run_text ? cfg->run_text : "", f) == EOF ? errno : 0;
    if (fclose(f) != 0 && !e) e = errno;
    return e ? gr_fail(ctx, "%s: write failed: %s", path, strerror(e)) : 0;
}

static int open_run(struct gr_ctx *ctx, const struct gr_config *cfg, const char *dir, int64_t resumed_at,
                    struct run_files *rf) {
    char path[4300];
    rf->dir = dir;
    if (lock_run_dir(ctx, dir, &rf->lock_fd) || write_config_file(ctx, cfg, dir)) return -1;
    const char *names[2] = {"metrics.csv", "metrics.jsonl"};
    FILE **files[2] = {&rf->csv, &rf->jsonl};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        struct stat st;
        int keep = resumed_at > 0 && stat(path, &st) == 0;
        if (keep && gr_metrics_trim(ctx, path, resumed_at, k)) return -1;
        *files[k] = fopen(path, keep ? "a" : "w");
        if (!*files[k]) return gr_fail(ctx, "%s: cannot write: %s", path, strerror(errno));
        setvbuf(*files[k], k == 0 ? rf->csv_buf : rf->jsonl_buf, _IOFBF, BUFSIZ);
        if (k == 0 && !keep && fputs(csv_header, rf->csv) == EOF)
            return gr_fail(ctx, "%s: write failed: %s", path, strerror(errno));
    }
    return 0;
}

/* A failed write to a metrics file: its name and errno's text. */
static int run_write_failed(struct gr_ctx *ctx, const struct run_files *rf, int json) {
    int e = errno ? errno : EIO;
    return gr_fail(ctx, "%s/%s: write failed: %s", rf->dir, json ? "metrics.jsonl" : "metrics.csv", strerror(e));
}

/* Everything written so far handed to the system: before a checkpoint,
 * so that a checkpoint on disk always has its rows on disk too. */
static int flush_run(struct gr_ctx *ctx, struct run_files *rf) {
    if (!rf->csv) return 0;
    errno = 0;
    if (fflush(rf->csv) != 0 || ferror(rf->csv)) return run_write_failed(ctx, rf, 0);
    errno = 0;
    if (fflush(rf->jsonl) != 0 || ferror(rf->jsonl)) return run_write_failed(ctx, rf, 1);
    return 0;
}

static int metrics_row(struct gr_ctx *ctx, struct run_files *rf, int64_t step, double epoch, double loss, double acc,
                       int has_acc, double lr, double wall) {
    if (!rf->csv) return 0;
    errno = 0;
    int bad;
    /* stdio may count a row written though the flush it caused failed:
     * the error flag is checked at once, while errno still says why */
    if (has_acc)
        bad = fprintf(rf->csv, "%lld,%.5f,%.6f,%.6f,%g,%.3f\n", (long long)step, epoch, loss, acc, lr, wall) < 0;
    else
        bad = fprintf(rf->csv, "%lld,%.5f,%.6f,,%g,%.3f\n", (long long)step, epoch, loss, lr, wall) < 0;
    if (bad || ferror(rf->csv)) return run_write_failed(ctx, rf, 0);
    char a[32] = "null";
    if (has_acc) snprintf(a, sizeof a, "%.6f", acc);
    if (fprintf(rf->jsonl, "{\"step\": %lld, \"epoch\": %.5f, \"loss\": %.6f, \"eval_accuracy\": %s, \"lr\": %g, "
                           "\"wall_time\": %.3f}\n",
                (long long)step, epoch, loss, a, lr, wall) < 0 ||
        ferror(rf->jsonl))
        return run_write_failed(ctx, rf, 1);
    return has_acc ? flush_run(ctx, rf) : 0;
}

/* Closes the files and releases the lock; with `report`, a failed last
 * write is an error (else an earlier error is being reported). */
static int close_run(struct gr_ctx *ctx, struct run_files *rf, int report) {
    int rc = 0;
    FILE *files[2] = {rf->csv, rf->jsonl};
    for (int k = 0; k < 2; k++) {
        errno = 0;
        int bad = files[k] && ferror(files[k]);
        if (files[k] && fclose(files[k]) != 0) bad = 1;
        if (bad && report && rc == 0) rc = run_write_failed(ctx, rf, k);
    }
    if (rf->lock_fd >= 0) close(rf->lock_fd);
    rf->csv = rf->jsonl = NULL;
    rf->lock_fd = -1;
    return rc;
}

/* "step 350/1200  epoch 0.37  loss 0.1234  812 steps/s  eta 1.0 s", drawn
 * over itself; eval lines clear it first. */
static void draw_progress(FILE *out, int64_t step, int64_t steps, double epoch, double loss, double rate) {
    double eta = rate > 0 ? (double)(steps - step) / rate : 0;
    int width = 24, done = (int)((double)width * (double)step / (double)steps);
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < done ? '#' : '.';
    bar[width] = 0;
    fprintf(out, "\r\033[K[%s] step %lld/%lld  epoch %.2f  loss %.4f  %.0f steps/s  eta %.1f s", bar,
            (long long)step, (long long)steps, epoch, loss, rate, eta);
    fflush(out);
}

/* Fill the image inputs of the evaluation plan from raw bytes. */
struct bytes_job {
    const uint8_t *pixels;
    int64_t size;
    float lo, scale;
    float *dst;
};

static void bytes_to_floats(void *arg, int64_t b, int64_t e) {
    const struct bytes_job *j = arg;
    for (int64_t i = b * j->size; i < e * j->size; i++) j->dst[i] = j->lo + j->scale * (float)j->pixels[i];
}

struct gr_shape gr_session_image_shape(const struct gr_session *s) {
    struct gr_shape img = {0, {0}};
    for (int i = 0; i < s->g.n; i++) {
        const struct gr_node *nd = &s->g.nodes[i];
        if (!(nd->op->flags & GR_OP_INPUT) || nd->attrs[GR_INPUT_DATA].i != GR_INPUT_IMAGES) continue;
        img.rank = nd->shape.rank - 1;
        for (int k = 0; k < img.rank; k++) img.dim[k] = nd->shape.dim[k + 1];
        break;
    }
    return img;
}

int gr_session_predict(struct gr_session *s, const uint8_t *pixels, int64_t n, float *probs) {
    GR_ASSERT(s->logits >= 0);
    int64_t c = s->g.nodes[s->logits].shape.dim[1];
    /* every image input holds this many values a sample (check_inputs) */
    struct gr_shape img = gr_session_image_shape(s);
    int64_t size = gr_shape_count(&img);
    float lo = (float)s->cfg->pixel_lo, scale = (float)((s->cfg->pixel_hi - s->cfg->pixel_lo) / 255.0);
    for (int64_t start = 0; start < n; start += s->ep.cap) {
        int64_t m = n - start < s->ep.cap ? n - start : s->ep.cap;
        if (gr_plan_set_batch(&s->ep, m)) return -1;
        for (int o = 0; o < s->ep.n_order; o++) {
            int i = s->ep.order[o];
            const struct gr_node *nd = &s->g.nodes[i];
            if (!(nd->op->flags & GR_OP_INPUT)) continue;
            if (nd->attrs[GR_INPUT_DATA].i == GR_INPUT_IMAGES) {
                struct bytes_job j = {pixels + start * size, size, lo, scale, s->ep.val[i].data};
                gr_pool_run(s->ctx->pool, m, bytes_to_floats, &j);
            } else {
                memset(s->ep.val[i].data, 0, (size_t)m * sizeof(int32_t));
            }
        }
        gr_plan_forward(&s->ep);
        const float *y = s->ep.val[s->logits].data;
        for (int64_t k = 0; k < m; k++) {
            /* softmax in double: p_j = exp(y_j - max) / sum */
            const float *row = y + k * c;
            double mx = row[0], sum = 0;
            for (int64_t j = 1; j < c; j++) mx = row[j] > mx ? row[j] : mx;
            for (int64_t j = 0; j < c; j++) sum += exp((double)row[j] - mx);
            for (int64_t j = 0; j < c; j++) probs[(start + k) * c + j] = (float)(exp((double)row[j] - mx) / sum);
        }
    }
    return 0;
}

/* After a failed write (metrics or checkpoint): the message also says
 * where training stopped and which checkpoint is kept. */
static int stopped(struct gr_ctx *ctx, const struct gr_train_result *res, int64_t step) {
    char msg[GR_ERRBUF];
    snprintf(msg, sizeof msg, "%s", ctx->err);
    if (res->checkpoint_step < 0)
        return gr_fail(ctx, "%.700s; training stopped at step %lld; no checkpoint was written", msg, (long long)step);
    return gr_fail(ctx, "%.600s; training stopped at step %lld; the checkpoint of step %lld (%.300s) is kept", msg,
                   (long long)step, (long long)res->checkpoint_step, res->checkpoint_path);
}

int gr_train(struct gr_ctx *ctx, const struct gr_config *cfg, const struct gr_train_opts *opts,
             struct gr_train_result *res) {
    double t0 = gr_now_seconds();
    struct gr_session s;
    struct run_files rf = {.lock_fd = -1};
    memset(res, 0, sizeof *res);
    res->checkpoint_step = -1;
    struct gr_train_opts train_opts = {.threads = -1};
    if (opts) train_opts = *opts;
    train_opts.mode = GR_SESSION_TRAIN;
    if (gr_session_open(ctx, &s, cfg, &train_opts)) {
        gr_session_close(&s);
        return -1;
    }
    int64_t start = 1;
    if (opts && opts->resume) {
        int64_t done;
        if (gr_checkpoint_load(&s, opts->resume, &done)) {
            gr_session_close(&s);
            return -1;
        }
        start = done + 1;
        res->steps = done;
    }
    /* the run folder, then where checkpoints go: the config's path, else
     * the run folder; that checkpoint must be writable before the run
     * depends on it (a configured path was probed when the session opened) */
    char dir[sizeof res->run_dir];
    const char *run_dir = NULL;
    if (opts && opts->run_dir) {
        if (make_run_dir(ctx, opts->run_dir, opts->new_run_dir, dir, sizeof dir)) {
            gr_session_close(&s);
            return -1;
        }
        run_dir = dir;
        snprintf(res->run_dir, sizeof res->run_dir, "%s", dir);
    }
    char *ckpt = res->checkpoint_path;
    if (cfg->checkpoint) snprintf(ckpt, sizeof res->checkpoint_path, "%s", cfg->checkpoint);
    else if (run_dir) snprintf(ckpt, sizeof res->checkpoint_path, "%s/checkpoint.safetensors", run_dir);
    if ((!cfg->checkpoint && ckpt[0] && gr_checkpoint_probe(ctx, ckpt)) ||
        (run_dir && open_run(ctx, cfg, dir, start - 1, &rf))) {
        close_run(ctx, &rf, 0);
        gr_session_close(&s);
        return -1;
    }
    int quiet = opts && opts->quiet, progress = opts && opts->progress && !quiet;
    FILE *out = s.out;
    if (out && !quiet) {
        if (opts && opts->show_config) print_config(cfg, out);
        print_header(&s, out, start);
        if (run_dir) fprintf(out, "  run:   %s\n", run_dir);
        fflush(out);
    }
    double t1 = gr_now_seconds(), last_draw = 0;
    int rc = 0;
    for (int64_t step = start; step <= s.steps; step++) {
        float loss = gr_session_step(&s);
        if (step == start) res->first_loss = loss;
        res->last_loss = loss;
        if (s.fault) {
            rc = fault_message(&s, step, loss, res);
            break;
        }
        res->steps = step;
        s.log_sum += loss;
        s.log_n++;
        double epoch = (double)step * (double)cfg->batch_size / (double)s.train.n;
        int eval_now = step % cfg->eval_every == 0 || step == s.steps;
        double acc = 0;
        if (eval_now && s.logits >= 0) {
            double te = gr_now_seconds();
            acc = res->last_eval_accuracy = gr_session_accuracy(&s, s.eval_samples);
            res->eval_seconds += gr_now_seconds() - te;
        }
        if (eval_now && out && !quiet) {
            if (progress) fprintf(out, "\r\033[K");
            if (s.logits >= 0) fprintf(out, "train loss: %.4f | test accuracy: %.2f\n", loss, acc);
            else fprintf(out, "train loss: %.4f\n", loss);
            fflush(out);
            last_draw = 0;
        }
        if (s.log_n && (eval_now || step % cfg->log_every == 0)) {
            if ((rc = metrics_row(ctx, &rf, step, epoch, s.log_sum / (double)s.log_n, acc, eval_now && s.logits >= 0,
                                  cfg->optim.lr, gr_now_seconds() - t1))) {
                rc = stopped(ctx, res, step);
                break;
            }
            s.log_sum = 0;
            s.log_n = 0;
        }
        if (progress && out) {
            double now = gr_now_seconds();
            if (now - last_draw > 0.1 || step == s.steps) {
                double rate = (double)(step - start + 1) / (now - t1 - res->eval_seconds + 1e-9);
                draw_progress(out, step, s.steps, epoch, loss, rate);
                last_draw = now;
            }
        }
        int stop = ctx->interrupt && *ctx->interrupt;
        int save = ckpt[0] && (stop || step == s.steps || (cfg->checkpoint_every && step % cfg->checkpoint_every == 0));
        if (save) {
            if ((rc = flush_run(ctx, &rf)) || (rc = gr_checkpoint_save(&s, step, ckpt))) {
                rc = stopped(ctx, res, step);
                break;
            }
            res->checkpoint_step = step;
        }
        if (stop) {
            res->interrupted = 1;
            break;
        }
    }
    if (progress && out) fprintf(out, "\r\033[K");
    res->train_seconds = gr_now_seconds() - t1 - res->eval_seconds;
    if (rc == 0 && !res->interrupted && s.logits >= 0) {
        double te = gr_now_seconds();
        res->test_accuracy = gr_session_accuracy(&s, s.test.n);
        res->eval_seconds += gr_now_seconds() - te;
        if (out) fprintf(out, "test accuracy (all %lld test images): %.4f\n", (long long)s.test.n, res->test_accuracy);
    }
    res->total_seconds = gr_now_seconds() - t0;
    if (out && rc == 0) {
        if (res->interrupted)
            fprintf(out, "interrupted after step %lld%s%s%s\n", (long long)res->steps,
                    res->checkpoint_step >= 0 ? "; checkpoint saved to " : " (nowhere to save a checkpoint)",
                    res->checkpoint_step >= 0 ? ckpt : "", res->checkpoint_step >= 0 ? "; continue with --resume" : "");
        else if (res->checkpoint_step >= 0 && !quiet)
            fprintf(out, "checkpoint: %s (step %lld)\n", ckpt, (long long)res->checkpoint_step);
        fprintf(out, "wall time: %.1f s (training %.1f s, %.2f ms a step; evaluation %.1f s)\n", res->total_seconds,
                res->train_seconds,
                1e3 * res->train_seconds / (double)(res->steps - start + 1 > 0 ? res->steps - start + 1 : 1),
                res->eval_seconds);
        fflush(out);
    }
    if (close_run(ctx, &rf, rc == 0) && rc == 0) {
        rc = stopped(ctx, res, res->steps);
        if (out) fflush(out);
    }
    gr_session_close(&s);
    return rc;
}
