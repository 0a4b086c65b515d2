/* batch_norm running the relu and the 2 x 2 max pool after it
 * (GR_FUSED_POOL, plugin.h): x [B, H, W, C] -> out [B, H/2, W/2, C], the
 * windows tiling the image.
 *
 * Forward normalises the four rows of each window, applies relu, keeps the
 * max and writes it with the pool's index byte (ops/pool.h), as max_pool2d
 * would from the stored y: the four cells compared first to last with a
 * strict >, POOL_MASKED where the max is not > 0. y is never stored.
 *
 * Backward forms each row's g as max_pool2d's backward would have written
 * it into the relu's gradient: 0.0f + dy where the index names that cell
 * (and the mask passes), 0 elsewhere; then the same block sums and dx rows
 * as batch_norm.c, in the same order, so the bits are those of the three
 * nodes run one after the other. */
#include <string.h>

#include "batch_norm.h"
#include "pool.h"

/* The pooled geometry: image rows H x W, pooled OH x OW */
struct pool_rows {
    int64_t H, W, OH, OW;
};

static struct pool_rows geometry(const struct gr_args *a) {
    const int64_t *x = a->in[IN_X]->shape.dim, *y = a->out->shape.dim;
    return (struct pool_rows){x[1], x[2], y[1], y[2]};
}

/* Where row r of x (image b, cell h, w) reads the pooled dy and index:
 * its window's offset o in them and its cell q in the window, advanced row
 * by row without a division */
struct cursor {
    int64_t b, h, w, o;
    uint8_t q;
};

static void cursor_at(struct cursor *u, const struct pool_rows *g, int64_t c, int64_t r) {
    u->b = r / (g->H * g->W);
    u->h = r % (g->H * g->W) / g->W;
    u->w = r % g->W;
    u->q = (uint8_t)((u->h & 1) * 2 + (u->w & 1));
    u->o = ((u->b * g->OH + u->h / 2) * g->OW + u->w / 2) * c;
}

static inline void cursor_next(struct cursor *u, const struct pool_rows *g, int64_t c) {
    if (++u->w == g->W) {
        u->w = 0;
        if (++u->h == g->H) u->h = 0, u->b++;
        u->o = ((u->b * g->OH + u->h / 2) * g->OW) * c;
    } else if (!(u->w & 1)) {
        u->o += c;
    }
    u->q = (uint8_t)((u->h & 1) * 2 + (u->w & 1));
}

/* relu((x - mu) * scale + beta), as batch_norm.c's normalize */
static inline float bn_relu(float x, float mu, float scale, float beta) {
    float v = (x - mu) * scale + beta;
    return v > 0.0f ? v : 0.0f;
}

/* One window's C channels: rows x0, x1 (its top cells) and x2, x3, the
 * max of their relu'd normalised values into yo and, where `keep`, the
 * cell taken into ao; the pointers as parameters, so the channel loop
 * vectorises without checks for overlap. `keep` constant where inlined. */
static inline __attribute__((always_inline)) void pool_window(float *restrict yo, uint8_t *restrict ao,
                                                              const float *restrict x0, const float *restrict x1,
                                                              const float *restrict x2, const float *restrict x3,
                                                              const struct bn_job *j, int keep) {
    const float *restrict mu = j->mu, *restrict scale = j->scale, *restrict beta = j->a->in[IN_BETA]->data;
    for (int64_t i = 0; i < j->c; i++) {
        float v0 = bn_relu(x0[i], mu[i], scale[i], beta[i]), v1 = bn_relu(x1[i], mu[i], scale[i], beta[i]);
        float v2 = bn_relu(x2[i], mu[i], scale[i], beta[i]), v3 = bn_relu(x3[i], mu[i], scale[i], beta[i]);
        float m = v0;
        uint8_t at = 0;
        if (v1 > m) m = v1, at = 1;
        if (v2 > m) m = v2, at = 2;
        if (v3 > m) m = v3, at = 3;
        yo[i] = m;
        if (keep) ao[i] = (uint8_t)(at | (m > 0.0f ? 0 : POOL_MASKED));
    }
}

/* Pooled lines [l0, l1) (image b, pooled row oh: l = b * OH + oh), the
 * index kept where `keep` (training) */
static inline __attribute__((always_inline)) void normalize_lines(const struct bn_job *j, int64_t l0, int64_t l1,
                                                                  int keep) {
    const struct pool_rows g = geometry(j->a);
    const float *x = j->a->in[IN_X]->data;
    float *y = j->a->out->data;
    uint8_t *index = j->a->in[j->a->n_in]->data;
    int64_t C = j->c;
    for (int64_t l = l0; l < l1; l++)
        for (int64_t ow = 0; ow < g.OW; ow++) {
            int64_t o = (l * g.OW + ow) * C, r0 = ((l / g.OH) * g.H + 2 * (l % g.OH)) * g.W + 2 * ow;
            const float *x0 = x + r0 * C, *x2 = x0 + g.W * C;
            pool_window(y + o, keep ? index + o : NULL, x0, x0 + C, x2, x2 + C, j, keep);
        }
}

static void normalize_part(void *arg, int64_t l0, int64_t l1) {
    const struct bn_job *j = arg;
    if (j->a->in[j->a->n_in]->data) normalize_lines(j, l0, l1, 1);
    else normalize_lines(j, l0, l1, 0);
}

void bn_pool_normalize(const struct bn_job *j) {
    const struct pool_rows g = geometry(j->a);
    run(j, j->a->out->shape.dim[0] * g.OH, normalize_part, (void *)j);
}

/* What max_pool2d's backward writes into the cell q of a window whose
 * index byte is at: 0.0f + dy (+0 for -0) where at == q, else +0, as bits
 * (the mask 0 or all ones), which vectorises where a select does not */
static inline uint32_t routed_bits(float dy, uint8_t at, uint8_t q) {
    float d = 0.0f + dy;
    uint32_t b;
    memcpy(&b, &d, sizeof b);
    return b & (0u - (uint32_t)(at == q));
}

static inline float routed(float dy, uint8_t at, uint8_t q) {
    uint32_t b = routed_bits(dy, at, q);
    float g;
    memcpy(&g, &b, sizeof g);
    return g;
}

/* Row sums of one row of x: sd += g, sdx += g * xhat */
static inline __attribute__((always_inline)) void grad_row(double *restrict sd, double *restrict sdx,
                                                           const float *restrict x, const float *restrict dy,
                                                           const uint8_t *restrict at, uint8_t q,
                                                           const float *restrict mu, const float *restrict rstd,
                                                           int64_t c) {
    for (int64_t i = 0; i < c; i++) {
        float ge = routed(dy[i], at[i], q), xhat = (x[i] - mu[i]) * rstd[i];
        sd[i] += ge;
        sdx[i] += (double)ge * xhat;
    }
}

/* Blocks [k0, k1): part[k][0] = sum of g, part[k][1] = sum of g * xhat,
 * g = the pooled dy where the index names the row's cell, else 0 */
void bn_pool_grad_blocks(void *arg, int64_t k0, int64_t k1) {
    const struct bn_job *j = arg;
    const struct pool_rows g = geometry(j->a);
    const float *x = j->a->in[IN_X]->data, *pdy = j->a->dout->data, *mu = j->mu, *rstd = j->rstd;
    const uint8_t *index = j->a->in[j->a->n_in]->data;
    for (int64_t k = k0; k < k1; k++) {
        double *restrict sd = j->part + k * 2 * j->c, *restrict sdx = sd + j->c;
        memset(sd, 0, (size_t)(2 * j->c) * sizeof *sd);
        struct cursor u;
        cursor_at(&u, &g, j->c, k * BN_ROWS);
        for (int64_t r = k * BN_ROWS; r < block_end(j, k); r++, cursor_next(&u, &g, j->c))
            grad_row(sd, sdx, x + r * j->c, pdy + u.o, index + u.o, u.q, mu, rstd, j->c);
    }
}

/* one row of dx from the pooled dy at u; `assign` constant where inlined */
static inline __attribute__((always_inline)) void dx_row(const struct dx_job *d, const struct cursor *u, int64_t r,
                                                         int assign) {
    const struct bn_job *j = d->j;
    const float *restrict xr = (const float *)j->a->in[IN_X]->data + r * j->c, *restrict k = d->k;
    const float *restrict dy = (const float *)j->a->dout->data + u->o, *restrict mu = j->mu, *restrict rstd = j->rstd;
    const uint8_t *restrict at = (const uint8_t *)j->a->in[j->a->n_in]->data + u->o;
    const float *restrict mdy = d->mdy, *restrict mdx = d->mdx;
    float *restrict dx = (float *)j->a->din[IN_X]->data + r * j->c;
    uint8_t q = u->q;
    for (int64_t i = 0; i < j->c; i++) {
        float ge = routed(dy[i], at[i], q), xhat = (xr[i] - mu[i]) * rstd[i];
        float v = k[i] * (ge - mdy[i] - xhat * mdx[i]);
        dx[i] = assign ? v : dx[i] + v;
    }
}

void bn_pool_dx_rows(void *arg, int64_t r0, int64_t r1) {
    const struct dx_job *d = arg;
    const struct pool_rows g = geometry(d->j->a);
    int64_t c = d->j->c;
    struct cursor u;
    cursor_at(&u, &g, c, r0);
    if (gr_din_assigns(d->j->a, IN_X))
        for (int64_t r = r0; r < r1; r++, cursor_next(&u, &g, c)) dx_row(d, &u, r, 1);
    else
        for (int64_t r = r0; r < r1; r++, cursor_next(&u, &g, c)) dx_row(d, &u, r, 0);
}
