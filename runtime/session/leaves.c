#include "runtime/session/leaves.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "ops/util.h"
#include "runtime/base/clock.h"
#include "runtime/base/ctx.h"
#include "runtime/host/threads.h"
#include "runtime/session/feed.h"

/* The leaves' size when n rows halve evenly into at least two leaves of at
 * most GR_SUM_LEAF rows (the tree's leaves), else 0. */
static int64_t even_leaf(int64_t n) {
    int64_t m = n;
    while (m > GR_SUM_LEAF) {
        if (m % 2) return 0;
        m /= 2;
    }
    return m < n ? m : 0;
}

/* Every node the loss needs runs leaf by leaf (leaves.h): the flags, and
 * axis 0 the batch at n and at `leaf` rows. 1 yes, 0 no, -1 out of memory. */
static int rowwise(struct gr_session *s, int64_t n, int64_t leaf) {
    const struct gr_plan *p = &s->tp;
    struct gr_graph *g = &s->g;
    struct gr_shape *whole = gr_calloc(s->ctx, (size_t)g->n, sizeof *whole);
    struct gr_shape *part = gr_calloc(s->ctx, (size_t)g->n, sizeof *part);
    enum gr_dtype *dtypes = gr_calloc(s->ctx, (size_t)g->n, sizeof *dtypes);
    int ok = whole && part && dtypes, failed = !ok;
    if (ok && (gr_plan_shapes_at(p, n, whole, dtypes) || gr_plan_shapes_at(p, leaf, part, dtypes))) {
        ok = 0;
        s->ctx->err[0] = 0; /* not an error: the step runs in one pass */
    }
    for (int o = 0; ok && o < p->n_order; o++) {
        int i = p->order[o];
        unsigned f = g->nodes[i].op->flags;
        if (f & GR_OP_PARAM) continue;
        if (i == s->loss) ok = (f & GR_OP_ROW_MEAN) != 0;
        else
            ok = (f & (GR_OP_INPUT | GR_OP_ROWWISE)) && whole[i].rank > 0 && whole[i].dim[0] == n &&
                 part[i].rank > 0 && part[i].dim[0] == leaf;
    }
    gr_free(s->ctx, whole);
    gr_free(s->ctx, part);
    gr_free(s->ctx, dtypes);
    return failed ? -1 : ok;
}

/* A plan a thread, no more than there are leaves or CPUs to run them: a
 * leaf is a whole graph's work, so more at once than cores only share the
 * cores' caches (--threads 8 on 2 cores). Which plan runs a leaf never
 * changes its bits. */
static int plans_for(const struct gr_session *s, int64_t leaves) {
    int t = gr_pool_threads(s->ctx->pool), cpus = gr_cpu_count();
    if (cpus > 0 && cpus < t) t = cpus;
    return leaves < t ? (int)leaves : t;
}

int gr_leaves_plans(const struct gr_session *s) { return plans_for(s, s->leaves); }

double gr_leaves_bytes(const struct gr_session *s) {
    if (s->leaves <= 1) return 0;
    double grads = (double)(s->leaves - 1) * (double)s->g.param_floats * sizeof(float);
    return grads + (double)(plans_for(s, s->leaves) - 1) * (double)s->tp.arena_bytes;
}

int64_t gr_leaves_count(struct gr_session *s, int64_t n) {
    int64_t leaf = even_leaf(n);
    if (!leaf || s->whole_batch) return 1;
    int ok = rowwise(s, n, leaf);
    if (ok <= 0) return ok < 0 ? -1 : 1;
    /* the leaves' gradients (blocks laid out as the graph's, which the
     * memory check counts before they exist) take no more memory than the
     * one pass's plan */
    if (gr_graph_layout_params(&s->g)) return -1;
    double params = (double)s->g.param_floats;
    int64_t leaves = n / leaf;
    /* fewer leaves than threads would leave threads idle that one pass
     * splits every op over (batch 64 on 8 cores) */
    if (plans_for(s, leaves) < plans_for(s, INT64_MAX)) return 1;
    return (double)(leaves - 1) * params * sizeof(float) <= (double)s->tp.arena_bytes ? leaves : 1;
}

int gr_leaves_alloc(struct gr_session *s) {
    if (s->leaves <= 1) return 0;
    int plans = plans_for(s, s->leaves);
    struct gr_ctx *ctx = s->ctx;
    s->more_tp = gr_calloc(ctx, (size_t)(plans > 1 ? plans - 1 : 1), sizeof *s->more_tp);
    s->leaf_loss = gr_calloc(ctx, (size_t)s->leaves, sizeof *s->leaf_loss);
    s->leaf_grads = gr_alloc(ctx, (size_t)(s->leaves - 1) * (size_t)s->g.param_floats * sizeof(float) + 64);
    if (!s->more_tp || !s->leaf_loss || !s->leaf_grads) return -1;
    for (int k = 0; k < plans - 1; k++) {
        if (gr_plan_init(&s->more_tp[k], &s->g, s->tp.cap, &s->loss, 1, s->loss)) return -1;
        s->n_more_tp = k + 1;
    }
    return 0;
}

void gr_leaves_free(struct gr_session *s) {
    for (int k = 0; k < s->n_more_tp; k++) gr_plan_free(&s->more_tp[k]);
    gr_free(s->ctx, s->more_tp);
    gr_free(s->ctx, s->leaf_loss);
    gr_free(s->ctx, s->leaf_grads);
    s->more_tp = NULL;
    s->leaf_loss = NULL;
    s->leaf_grads = NULL;
    s->n_more_tp = 0;
}

/* Leaf k's gradient: the graph's block for the first (the tree's sum ends
 * there), then the held ones. */
static float *leaf_grad(const struct gr_session *s, int64_t k) {
    return k == 0 ? s->g.grad : s->leaf_grads + (size_t)(k - 1) * (size_t)s->g.param_floats;
}

struct leaf_job {
    struct gr_session *s;
    const int32_t *idx;
    int64_t draw;
    float seed;
    _Atomic int64_t next;
    pthread_t caller;   /* the thread that runs the step */
    double own_s;       /* its time in leaves */
    int64_t own_leaves; /* and how many it ran */
};

/* Leaf k on plan p: its rows fed, forward, zeroing, backward into its gradient. */
static void run_leaf(const struct leaf_job *j, struct gr_plan *p, int64_t k) {
    struct gr_session *s = j->s;
    int64_t cap = s->tp.cap;
    gr_plan_set_param_grad(p, leaf_grad(s, k));
    gr_session_feed(s, p, &s->train_set, j->idx + k * cap, cap, s->aug_array >= 0, j->draw + k * cap);
    p->step = s->step;
    gr_plan_forward(p);
    gr_plan_zero_grad(p);
    gr_plan_backward_from(p, j->seed);
    s->leaf_loss[k] = *(const float *)p->val[s->loss].data;
}

/* Plan c (one per thread: a chunk runs on one thread at a time) takes
 * leaves until none is left. */
static void run_leaves(void *arg, int64_t c, int64_t c_end) {
    struct leaf_job *j = arg;
    struct gr_session *s = j->s;
    struct gr_plan *p = c == 0 ? &s->tp : &s->more_tp[c - 1];
    (void)c_end;
    int mine = pthread_equal(pthread_self(), j->caller) != 0;
    double t0 = mine ? gr_now_seconds() : 0;
    int64_t done = 0;
    /* the parameters stay as they are until every leaf is done */
    for (int64_t k; (k = atomic_fetch_add(&j->next, 1)) < s->leaves; done++) {
        if (done < 2) gr_plan_keep_params(p, done > 0);
        run_leaf(j, p, k);
    }
    /* only the caller writes these (it may run more than one plan) */
    if (mine) {
        j->own_leaves += done;
        j->own_s += gr_now_seconds() - t0;
    }
}

/* Elements [e0, e1) of the leaves' gradients added up the tree, left +
 * right, into leaf 0's. */
static void add_up(void *arg, int64_t e0, int64_t e1) {
    const struct gr_session *s = arg;
    for (int64_t b = e0; b < e1; b += 1024) { /* 4 KB of each leaf's at a time */
        int64_t e = b + 1024 < e1 ? b + 1024 : e1;
        for (int64_t w = 1; w < s->leaves; w *= 2)
            for (int64_t k = 0; k + w < s->leaves; k += 2 * w) {
                float *x = leaf_grad(s, k);
                const float *y = leaf_grad(s, k + w);
                for (int64_t i = b; i < e; i++) x[i] += y[i];
            }
    }
}

void gr_leaves_pace(struct gr_leaves_pace *p, double step_s, double own_s, int64_t own_leaves, int64_t leaves) {
    if (own_leaves <= 0 || step_s <= own_s / (double)own_leaves * (double)leaves) {
        p->late = 0;
        p->span = 0;
        return;
    }
    if (++p->late < GR_PACE_LATE) return;
    /* after a solo span, one late step sends the steps back, for twice as long */
    p->span = p->span ? (2 * p->span < GR_PACE_SOLO_MAX ? 2 * p->span : GR_PACE_SOLO_MAX) : GR_PACE_SOLO;
    p->solo = p->span;
    p->late = GR_PACE_LATE - 1;
}

double gr_leaves_run(struct gr_session *s, const int32_t *idx, int64_t draw, int64_t batch) {
    struct leaf_job j = {s, idx, draw, (float)s->tp.cap / (float)batch, 0, pthread_self(), 0, 0};
    s->leaf_draw = draw;
    if (s->pace.solo > 0 || s->n_more_tp == 0) {
        s->pace.solo -= s->pace.solo > 0;
        /* as one job, so each op runs on this thread as in a leaf on the pool */
        gr_pool_run_alone(s->ctx->pool, 1, run_leaves, &j);
        add_up(s, 0, s->g.param_floats);
    } else {
        double t0 = gr_now_seconds();
        gr_pool_run(s->ctx->pool, 1 + s->n_more_tp, run_leaves, &j);
        gr_leaves_pace(&s->pace, gr_now_seconds() - t0, j.own_s, j.own_leaves, s->leaves);
        gr_pool_run(s->ctx->pool, s->g.param_floats, add_up, s);
    }
    double loss = 0;
    for (int64_t k = 0; k < s->leaves; k++) loss += (double)s->leaf_loss[k];
    return loss / (double)s->leaves;
}

void gr_leaves_flops(const struct gr_session *s, double *forward, double *backward) {
    gr_plan_flops(&s->tp, forward, backward);
    *forward *= (double)s->leaves;
    *backward *= (double)s->leaves;
}

int64_t gr_leaves_replay_fault(struct gr_session *s, int64_t batch) {
    struct leaf_job j = {s, s->idx, s->leaf_draw, (float)s->tp.cap / (float)batch, 0};
    int in_grad;
    gr_plan_keep_params(&s->tp, 0);
    for (int64_t k = 0; k < s->leaves; k++) {
        run_leaf(&j, &s->tp, k);
        if (gr_plan_find_nonfinite(&s->tp, &in_grad) >= 0) return k;
    }
    return -1;
}
