/* What batch_norm.c and batch_norm_pool.c share: the kernels' job, the
 * blocks of rows that sums run over, and the kernels that run the 2 x 2
 * max pool after a folded relu (GR_FUSED_POOL, plugin.h). */
#ifndef GR_OPS_BATCH_NORM_H
#define GR_OPS_BATCH_NORM_H

#include <stdint.h>

#include "graphrun/plugin.h"
#include "util.h"

enum { IN_X, IN_GAMMA, IN_BETA, IN_MEAN, IN_VAR };

#define BN_ROWS 256

struct bn_job {
    const struct gr_args *a;
    int64_t c, rows;
    const float *mu, *rstd; /* per channel */
    const float *scale;     /* forward: rstd * gamma per channel */
    double *part;           /* [blocks, 2, C] */
};

/* rows [r0, r1): dx += gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)) */
struct dx_job {
    const struct bn_job *j;
    const float *mdy, *mdx, *k; /* per channel: mean(dy), mean(dy * xhat), gamma * rstd */
};

static inline int64_t n_blocks(int64_t rows) { return (rows + BN_ROWS - 1) / BN_ROWS; }

/* Rows [r0, r1) of block k */
static inline int64_t block_end(const struct bn_job *j, int64_t k) {
    return (k + 1) * BN_ROWS < j->rows ? (k + 1) * BN_ROWS : j->rows;
}

/* fn over [0, n) blocks or rows, on the host's threads when the tensor is large */
static inline void run(const struct bn_job *j, int64_t n, void (*fn)(void *, int64_t, int64_t), void *arg) {
    if (n > 1 && j->rows * j->c >= GR_PARALLEL_MIN) j->a->host->parallel_for(j->a->host_ctx, n, fn, arg);
    else fn(arg, 0, n);
}

/* With GR_FUSED_POOL (x [B, H, W, C], out [B, H/2, W/2, C]): forward's
 * normalise, relu and pool, y never stored; backward's block sums and dx
 * rows, each row's dy formed from the pooled dy and the index. */
void bn_pool_normalize(const struct bn_job *j);
void bn_pool_grad_blocks(void *arg, int64_t k0, int64_t k1);
void bn_pool_dx_rows(void *arg, int64_t r0, int64_t r1);

#endif
