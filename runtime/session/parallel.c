#include "runtime/session/parallel.h"

#include <string.h>

#include "runtime/base/clock.h"
#include "runtime/base/ctx.h"
#include "runtime/session/checks.h"

/* A failed collective: the reason into ctx->err, the session broken. */
static int broken(struct gr_session *s, const char *why) {
    s->broken = 1;
    return gr_fail(s->ctx, "%s; the ranks cannot go on together", why);
}

void gr_parallel_range(int64_t total, int64_t r, int64_t size, int64_t *lo, int64_t *n) {
    if (size & (size - 1)) {
        *lo = total * r / size;
        *n = total * (r + 1) / size - *lo;
        return;
    }
    /* down the tree, rank bits from the highest: 0 the left half, 1 the right */
    int64_t a = 0, b = total;
    for (int64_t bit = size >> 1; bit; bit >>= 1) {
        int64_t m = a + (b - a) / 2;
        if (r & bit) a = m;
        else b = m;
    }
    *lo = a;
    *n = b - a;
}

void gr_parallel_part(const struct gr_session *s, int64_t total, int64_t *lo, int64_t *n) {
    gr_parallel_range(total, gr_dist_rank(s->dist), gr_dist_size(s->dist), lo, n);
}

int gr_parallel_check(struct gr_session *s) {
    int size = gr_dist_size(s->dist);
    if (s->cfg->batch_size >= size) return 0;
    gr_fail(s->ctx, "expected at least one sample for each of the %d ranks, got %lld", size,
            (long long)s->cfg->batch_size);
    return gr_session_fail_at_key(s, s->cfg->batch_size_at, "train.batch_size");
}

/* 64-bit FNV-1a over bytes, continued from h. */
static uint64_t hash_bytes(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* Rank 0's hash on every rank: 0 when this rank's equals it, 1 when not,
 * -1 when the ranks could not compare. */
static int differs_from_root(struct gr_session *s, uint64_t h) {
    uint64_t root = h;
    char why[GR_ERRBUF];
    if (gr_dist_bcast(s->dist, &root, sizeof root, 0, why, sizeof why)) return broken(s, why);
    return root != h;
}

static uint64_t order_hash(const struct gr_session *s) {
    const struct gr_sampler *sp = &s->sampler;
    uint64_t h = hash_bytes(0xcbf29ce484222325ULL, &s->ctx->rng, sizeof s->ctx->rng);
    int64_t head[3] = {sp->n, sp->pos, sp->epoch};
    h = hash_bytes(h, head, sizeof head);
    return hash_bytes(h, sp->order, (size_t)sp->n * sizeof *sp->order);
}

static uint64_t param_hash(const struct gr_session *s) {
    return hash_bytes(0xcbf29ce484222325ULL, s->g.param, (size_t)s->g.param_floats * sizeof *s->g.param);
}

int gr_parallel_start(struct gr_session *s) {
    if (!gr_parallel_on(s)) return 0;
    char why[GR_ERRBUF];
    struct gr_optim *o = &s->opt;
    if (gr_dist_bcast(s->dist, s->g.param, (size_t)s->g.param_floats * sizeof(float), 0, why, sizeof why))
        return broken(s, why);
    for (int k = 0; k < GR_OPTIM_MAX_STATE; k++)
        if (o->state[k] && gr_dist_bcast(s->dist, o->state[k], (size_t)o->n * sizeof(float), 0, why, sizeof why))
            return broken(s, why);
    if (gr_dist_bcast(s->dist, &o->t, sizeof o->t, 0, why, sizeof why)) return broken(s, why);
    int d = differs_from_root(s, order_hash(s));
    if (d < 0) return -1;
    if (d)
        gr_fail(s->ctx, "its training samples, their order or its generator differ from rank 0's "
                        "(the same config, seed and data files on every host?)");
    return gr_parallel_agree(s, d ? -1 : 0, 1, 0);
}

float gr_parallel_reduce_step(struct gr_session *s, float loss) {
    char why[GR_ERRBUF];
    double t = gr_now_seconds();
    int64_t lo, n;
    gr_parallel_part(s, s->cfg->batch_size, &lo, &n);
    double tail[2] = {(double)loss * (double)n / (double)s->cfg->batch_size,
                      s->ctx->interrupt && *s->ctx->interrupt ? 1.0 : 0.0};
    /* the ops' state (batch_norm's running statistics) is updated by each
     * rank from its own rows: rank 0's is kept, as PyTorch's DDP broadcasts
     * its buffers, so every rank evaluates and checkpoints the same values */
    float *state = s->g.param + s->g.trainable_floats;
    size_t state_bytes = (size_t)(s->g.param_floats - s->g.trainable_floats) * sizeof(float);
    if (gr_dist_sum_f32(s->dist, s->g.grad, s->g.param_floats, why, sizeof why) ||
        gr_dist_sum_f64(s->dist, tail, 2, why, sizeof why) ||
        (s->g.n_state > 0 && gr_dist_bcast(s->dist, state, state_bytes, 0, why, sizeof why))) {
        broken(s, why);
        return loss;
    }
    s->stop = tail[1] > 0;
    s->comm_seconds += gr_now_seconds() - t;
    return (float)tail[0];
}

void gr_parallel_sum(struct gr_session *s, double *x, int n) {
    char why[GR_ERRBUF];
    if (gr_dist_sum_f64(s->dist, x, n, why, sizeof why)) broken(s, why);
}

int gr_parallel_agree(struct gr_session *s, int rc, int own, int check_state) {
    if (!gr_parallel_on(s)) return rc;
    if (s->broken) return -1;
    if (rc == 0 && check_state) {
        int d = differs_from_root(s, param_hash(s));
        if (d < 0) return -1;
        if (d) rc = gr_fail(s->ctx, "its parameters differ from rank 0's after the same updates");
    }
    enum gr_dist_status st = rc == 0 ? GR_DIST_OK : own ? GR_DIST_FAILED : GR_DIST_FOLLOWED;
    return gr_dist_agree(s->dist, st, s->ctx->err, sizeof s->ctx->err);
}
