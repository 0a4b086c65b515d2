#include "runtime/session/feed.h"

#include "ops/core.h"
#include "runtime/base/ctx.h"
#include "runtime/data/augment.h"
#include "runtime/host/threads.h"
#include "runtime/session/datasets.h"

struct feed_job {
    const struct gr_session *s;
    const struct gr_dataset *d;
    const int32_t *rows; /* the samples' rows of d */
    int k;           /* the array */
    int64_t per;     /* its values a sample */
    float *dst;
    int augment;     /* through s->aug, drawing from draw + sample */
    int64_t draw;
};

static void feed_floats(void *arg, int64_t b, int64_t e) {
    const struct feed_job *j = arg;
    const struct gr_session *s = j->s;
    float lo = (float)s->cfg->data.pixel_lo, hi = (float)s->cfg->data.pixel_hi;
    if (!j->augment) {
        gr_dataset_floats(j->d, j->k, j->rows + b, e - b, lo, hi, j->dst + b * j->per);
        return;
    }
    const struct gr_data_array *x = &j->d->arrays[j->k];
    size_t size = gr_array_type_size(x->info.type);
    for (int64_t r = b; r < e; r++) {
        struct gr_augment_draw dr;
        gr_augment_draw(&s->aug, s->aug_h, s->aug_w, j->draw + r, &dr);
        const uint8_t *src = (const uint8_t *)x->data + (size_t)j->rows[r] * (size_t)j->per * size;
        gr_augment_apply(&dr, x->info.type, src, s->aug_h, s->aug_w, s->aug_c, lo, hi, j->dst + r * j->per);
    }
}

static void feed_ints(void *arg, int64_t b, int64_t e) {
    const struct feed_job *j = arg;
    gr_dataset_ints(j->d, j->k, j->rows + b, e - b, (int32_t *)j->dst + b * j->per);
}

/* gr_session_verify_feed checked once that what was read fits. */
void gr_session_feed(struct gr_session *s, struct gr_plan *p, const struct gr_split *sp, const int32_t *rows, int64_t n,
                     int augment, int64_t draw) {
    for (int o = 0; o < p->n_order; o++) {
        int i = p->order[o];
        const struct gr_node *nd = &s->g.nodes[i];
        if (!(nd->op->flags & GR_OP_INPUT)) continue;
        int k = gr_split_array(sp, nd);
        struct feed_job j = {s, sp->d, rows, k, sp->d->arrays[k].per_sample, p->val[i].data, augment && k == s->aug_array,
                             draw};
        gr_pool_run(s->ctx->pool, n, nd->dtype == GR_I32 ? feed_ints : feed_floats, &j);
    }
}

