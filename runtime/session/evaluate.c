#include "runtime/session/evaluate.h"

#include <math.h>
#include <string.h>

#include "ops/core.h"
#include "runtime/base/ctx.h"
#include "runtime/host/threads.h"
#include "runtime/session/datasets.h"
#include "runtime/session/feed.h"
#include "runtime/session/parallel.h"

int64_t gr_argmax(const float *row, int64_t n) {
    int64_t best = 0;
    for (int64_t j = 1; j < n; j++)
        if (row[j] > row[best]) best = j;
    for (int64_t j = 0; j < n; j++)
        if (!isfinite(row[j])) return -1;
    return best;
}

/* p_j = exp(y_j - max) / sum_k exp(y_k - max), in double */
static void softmax_row(const float *y, int64_t c, float *p) {
    double mx = y[0], sum = 0;
    for (int64_t j = 1; j < c; j++) mx = y[j] > mx ? y[j] : mx;
    for (int64_t j = 0; j < c; j++) sum += exp((double)y[j] - mx);
    for (int64_t j = 0; j < c; j++) p[j] = (float)(exp((double)y[j] - mx) / sum);
}

/* Where a batch's classes, probabilities and hits go. */
struct eval_out {
    int32_t *classes;
    float *probs;
    int64_t correct;
    const struct gr_split *labels; /* the set whose labels count the hits, or NULL */
    double loss_sum;               /* the loss times each batch's size, when the plan runs it */
    int64_t nan_rows;              /* samples with no class: logits not finite (gr_argmax) */
};

int32_t gr_session_label(const struct gr_session *s, const struct gr_split *sp, int64_t i) {
    const struct gr_dataset *d = sp->d;
    int k = gr_dataset_find(d, s->cfg->eval_labels);
    GR_ASSERT(k >= 0 && d->arrays[k].data);
    const struct gr_data_array *x = &d->arrays[k];
    int64_t row = gr_split_row(sp, i);
    if (x->info.type != GR_ARRAY_F32) return gr_dataset_int(d, k, row);
    /* a row of class scores: its argmax */
    return (int32_t)gr_argmax((const float *)x->data + row * x->per_sample, x->per_sample);
}

/* Fill the evaluation plan's image inputs from raw bytes (other inputs get
 * zeros: predict refuses a graph whose logits read other arrays). */
struct bytes_job {
    const uint8_t *pixels;
    int64_t size;
    float lo, hi;
    float *dst;
};

static void bytes_part(void *arg, int64_t b, int64_t e) {
    const struct bytes_job *j = arg;
    gr_bytes_to_floats(j->pixels + b * j->size, (e - b) * j->size, j->lo, j->hi, j->dst + b * j->size);
}

static void feed_bytes(struct gr_session *s, const uint8_t *pixels, int64_t m) {
    struct gr_shape img = gr_session_image_shape(s);
    for (int o = 0; o < s->ep.n_order; o++) {
        int i = s->ep.order[o];
        const struct gr_node *nd = &s->g.nodes[i];
        if (!(nd->op->flags & GR_OP_INPUT)) continue;
        if (!strcmp(nd->attrs[GR_INPUT_DATA].s, "images")) {
            /* every image input holds this many values a sample (checked) */
            struct bytes_job j = {pixels, gr_shape_count(&img), (float)s->cfg->data.pixel_lo,
                                  (float)s->cfg->data.pixel_hi, s->ep.val[i].data};
            gr_pool_run(s->ctx->pool, m, bytes_part, &j);
        } else {
            memset(s->ep.val[i].data, 0, gr_shape_bytes(&s->ep.val[i].shape));
        }
    }
}

/* Samples [first, n) of set sp, or of `pixels`, through the plan in
 * batches; their classes, probabilities and hits into o. */
static int evaluate(struct gr_session *s, const struct gr_split *sp, int64_t first, int64_t n, const uint8_t *pixels,
                    struct eval_out *o) {
    GR_ASSERT(s->logits >= 0);
    struct gr_shape img = gr_session_image_shape(s);
    int64_t size = gr_shape_count(&img), c = s->g.nodes[s->logits].shape.dim[1];
    for (int64_t start = first; start < n; start += s->ep.cap) {
        int64_t m = n - start < s->ep.cap ? n - start : s->ep.cap;
        if (gr_plan_set_batch(&s->ep, m)) return -1;
        if (pixels) {
            feed_bytes(s, pixels + start * size, m);
        } else {
            for (int64_t k = 0; k < m; k++) s->idx[k] = gr_split_row(sp, start + k);
            gr_session_feed(s, &s->ep, sp, s->idx, m, 0, 0);
        }
        gr_plan_forward(&s->ep);
        if (s->n_eval_targets > 1) o->loss_sum += (double)*(const float *)s->ep.val[s->loss].data * (double)m;
        const float *y = s->ep.val[s->logits].data;
        for (int64_t k = 0; k < m; k++) {
            int64_t best = gr_argmax(y + k * c, c);
            if (o->classes) o->classes[start + k] = (int32_t)best;
            if (o->labels) o->correct += best >= 0 && best == gr_session_label(s, o->labels, start + k);
            o->nan_rows += best < 0;
            if (o->probs) softmax_row(y + k * c, c, o->probs + (start + k) * c);
        }
    }
    return 0;
}

/* Split over the ranks of a job: each counts the hits of its part, and the
 * counts are summed (the same count on every rank). */
double gr_session_accuracy(struct gr_session *s, const struct gr_split *sp, int64_t n) {
    struct gr_measure m;
    gr_session_measure(s, sp, n, &m);
    return m.accuracy;
}

void gr_session_measure(struct gr_session *s, const struct gr_split *sp, int64_t n, struct gr_measure *m) {
    GR_ASSERT(n <= sp->n);
    struct eval_out o = {.labels = sp};
    int64_t lo, part;
    gr_parallel_part(s, n, &lo, &part);
    int rc = evaluate(s, sp, lo, lo + part, NULL, &o);
    GR_ASSERT(rc == 0); /* shapes shrink with the batch (checked when the plan was made) */
    if (gr_parallel_on(s)) {
        double sums[3] = {(double)o.correct, o.loss_sum, (double)o.nan_rows}; /* counts exact below 2^53 */
        gr_parallel_sum(s, sums, 3);
        o.correct = (int64_t)sums[0];
        o.loss_sum = sums[1];
        o.nan_rows = (int64_t)sums[2];
    }
    m->nan_rows = o.nan_rows;
    m->accuracy = (double)o.correct / (double)n;
    m->has_loss = s->n_eval_targets > 1;
    m->loss = m->has_loss ? o.loss_sum / (double)n : 0;
}

int gr_session_classify(struct gr_session *s, int64_t n, int32_t *classes, float *probs, int64_t *correct) {
    GR_ASSERT(n <= s->test_set.n);
    struct eval_out o = {classes, probs, 0, &s->test_set, 0};
    if (evaluate(s, &s->test_set, 0, n, NULL, &o)) return -1;
    if (correct) *correct = o.correct;
    return 0;
}

int gr_session_predict(struct gr_session *s, const uint8_t *pixels, int64_t n, int32_t *classes, float *probs) {
    for (int o = 0; o < s->ep.n_order; o++) {
        const struct gr_node *nd = &s->g.nodes[s->ep.order[o]];
        if ((nd->op->flags & GR_OP_INPUT) && strcmp(nd->attrs[GR_INPUT_DATA].s, "images") != 0)
            return gr_fail(s->ctx, "%s: predict feeds images, but the logits also read input '%s' (array '%s')",
                           s->cfg->path, nd->name, nd->attrs[GR_INPUT_DATA].s);
    }
    struct eval_out o = {classes, probs, 0, NULL, 0};
    return evaluate(s, NULL, 0, n, pixels, &o);
}

struct gr_shape gr_session_image_shape(const struct gr_session *s) {
    struct gr_shape img = {0, {0}};
    for (int i = 0; i < s->g.n; i++) {
        const struct gr_node *nd = &s->g.nodes[i];
        if (!(nd->op->flags & GR_OP_INPUT) || strcmp(nd->attrs[GR_INPUT_DATA].s, "images") != 0) continue;
        img.rank = nd->shape.rank - 1;
        for (int k = 0; k < img.rank; k++) img.dim[k] = nd->shape.dim[k + 1];
        break;
    }
    return img;
}
