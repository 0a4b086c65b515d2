/* The host: what a context needs beyond the ground (runtime/base/ctx.c) -
 * the table of host functions handed to kernels and plugins, the registry
 * with every built-in op and optimizer, and the thread pool - made and
 * freed in one place. */
#include "runtime/host/host.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "ops/builtin.h"
#include "runtime/base/ctx.h"
#include "runtime/host/gemm.h"
#include "runtime/host/plugin.h"
#include "runtime/host/registry.h"
#include "runtime/host/threads.h"

/* ---- host functions handed to ops ---------------------------------------- */

/* Which kernel runs a product: graphrun's own (runtime/host/gemm.h), whose
 * bits depend on k alone, for every product ops ask for; OpenBLAS only for
 * another alpha or beta, or both operands transposed, which no built-in op
 * asks for (a plugin may). */
enum gemm_kernel { GEMM_OPENBLAS, GEMM_DIRECT, GEMM_TN, GEMM_NT };

static enum gemm_kernel gemm_pick(enum gr_trans ta, enum gr_trans tb, float alpha, float beta) {
    if (alpha != 1.0f || (beta != 0.0f && beta != 1.0f) || (ta == GR_TRANS && tb == GR_TRANS)) return GEMM_OPENBLAS;
    return ta == GR_TRANS ? GEMM_TN : tb == GR_TRANS ? GEMM_NT : GEMM_DIRECT;
}

static void blas_sgemm(enum gemm_kernel kern, enum gr_trans ta, enum gr_trans tb, int64_t m, int64_t n, int64_t k,
                       float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                       int64_t ldc) {
    GR_ASSERT(m >= 0 && n >= 0 && k >= 0 && m <= INT32_MAX && n <= INT32_MAX && k <= INT32_MAX);
    if (m == 0 || n == 0) return;
    if (kern != GEMM_OPENBLAS && k == 0) { /* an empty sum */
        if (beta == 0.0f)
            for (int64_t i = 0; i < m; i++) memset(c + i * ldc, 0, (size_t)n * sizeof *c);
        return;
    }
    if (kern == GEMM_DIRECT)
        gr_gemm_direct(m, n, k, a, lda, b, ldb, c, ldc, beta == 1.0f);
    else if (kern == GEMM_TN)
        gr_gemm_tn(m, n, k, a, lda, b, ldb, c, ldc, beta == 1.0f);
    else if (kern == GEMM_NT)
        gr_gemm_nt(m, n, k, a, lda, b, ldb, c, ldc, beta == 1.0f);
    else
        cblas_sgemm(CblasRowMajor, ta == GR_TRANS ? CblasTrans : CblasNoTrans,
                    tb == GR_TRANS ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha, a,
                    (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

/* A product split over the pool: by rows of C when it is taller than wide,
 * else by columns in multiples of 16 floats. Each part is one single-threaded
 * call of the kernel chosen for the whole product over the whole K, so every
 * element is summed as it would be unsplit. */
struct gemm_job {
    enum gemm_kernel kern;
    enum gr_trans ta, tb;
    int64_t m, n, k, lda, ldb, ldc, parts;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int by_rows;
};

static void gemm_part(void *arg, int64_t begin, int64_t end) {
    const struct gemm_job *j = arg;
    for (int64_t p = begin; p < end; p++) {
        if (j->by_rows) {
            int64_t r0 = j->m * p / j->parts, r1 = j->m * (p + 1) / j->parts;
            const float *a = j->ta == GR_TRANS ? j->a + r0 : j->a + r0 * j->lda;
            blas_sgemm(j->kern, j->ta, j->tb, r1 - r0, j->n, j->k, j->alpha, a, j->lda, j->b, j->ldb, j->beta,
                       j->c + r0 * j->ldc, j->ldc);
        } else {
            int64_t blocks = (j->n + 15) / 16;
            int64_t c0 = blocks * p / j->parts * 16, c1 = blocks * (p + 1) / j->parts * 16;
            if (c1 > j->n) c1 = j->n;
            if (c1 <= c0) continue;
            const float *b = j->tb == GR_TRANS ? j->b + c0 * j->ldb : j->b + c0;
            blas_sgemm(j->kern, j->ta, j->tb, j->m, c1 - c0, j->k, j->alpha, j->a, j->lda, b, j->ldb, j->beta, j->c + c0,
                       j->ldc);
        }
    }
}

/* Below this many multiply-adds a product runs on the calling thread. */
#define GR_GEMM_SPLIT_MIN (1 << 18)

/* Whether every part of j (gemm_part's) sums its elements as the whole
 * does. graphrun's kernels do at any split. OpenBLAS's SkylakeX kernels do
 * where every part takes the large-matrix path (2^21 multiply-adds or
 * more), and not below, even where k is one block: its small-matrix paths
 * sum by the part's shape. [28, 896]^T @ [896, 64], an RNN's input-weight
 * gradient at batch 32, and [32, 128] @ [64, 128]^T, a dense layer's input
 * gradient at one leaf, split over 2 threads, changed the bits of the
 * 1-thread run. */
static int split_keeps_sums(const struct gemm_job *j) {
    if (j->kern != GEMM_OPENBLAS) return 1;
    for (int64_t p = 0; p < j->parts; p++) {
        int64_t blocks = (j->n + 15) / 16, c1 = blocks * (p + 1) / j->parts * 16;
        int64_t m = j->by_rows ? j->m * (p + 1) / j->parts - j->m * p / j->parts : j->m;
        int64_t n = j->by_rows ? j->n : (c1 > j->n ? j->n : c1) - blocks * p / j->parts * 16;
        if (m > 0 && n > 0 && (double)m * (double)n * (double)j->k < 0x1p21) return 0;
    }
    return 1;
}

static void host_sgemm(void *host_ctx, enum gr_trans ta, enum gr_trans tb, int64_t m, int64_t n, int64_t k,
                       float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                       int64_t ldc) {
    struct gr_ctx *ctx = host_ctx;
    struct gr_pool *pool = ctx ? ctx->pool : NULL;
    int threads = gr_pool_threads(pool);
    enum gemm_kernel kern = gemm_pick(ta, tb, alpha, beta);
    if (threads == 1 || gr_pool_busy(pool) || m * n * k < GR_GEMM_SPLIT_MIN || (m < 2 * threads && n < 32 * threads)) {
        blas_sgemm(kern, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    struct gemm_job j = {kern, ta, tb, m, n, k, lda, ldb, ldc, threads, alpha, beta, a, b, c, m >= n};
    if (!split_keeps_sums(&j)) {
        blas_sgemm(kern, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    gr_pool_run(pool, threads, gemm_part, &j);
}

/* OpenBLAS's pthread build starts its own workers when it loads, and each
 * polls with sched_yield for about 0.1 s before it sleeps: at the start of
 * a run that took a core from graphrun's threads (the first 8 steps at
 * batch 256, 128 units, took 0.133 s against 0.096 s warm). graphrun calls
 * it on one thread only, so at one thread its workers are shut down, where
 * the library has the call (weak: another BLAS may not). */
extern int blas_thread_shutdown_(void) __attribute__((weak));

void gr_blas_set_threads(int n) {
    openblas_set_num_threads(n);
    if (n == 1 && blas_thread_shutdown_) blas_thread_shutdown_();
}

static void host_parallel_for(void *host_ctx, int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end),
                              void *arg) {
    struct gr_ctx *ctx = host_ctx;
    gr_pool_run(ctx ? ctx->pool : NULL, n, fn, arg);
}

static int host_threads(void *host_ctx) {
    struct gr_ctx *ctx = host_ctx;
    struct gr_pool *pool = ctx ? ctx->pool : NULL;
    return gr_pool_busy(pool) ? 1 : gr_pool_threads(pool);
}

static int host_register_op(void *host_ctx, const struct gr_op_desc *desc, char *err, size_t err_len) {
    struct gr_ctx *ctx = host_ctx;
    if (!ctx || !ctx->reg) return snprintf(err, err_len, "register_op: no graphrun context"), -1;
    return gr_registry_add_op(ctx->reg, desc, err, err_len);
}

static void host_random_uniform(void *host_ctx, const struct gr_args *a, int64_t offset, int64_t n, float *out) {
    (void)host_ctx;
    gr_rng_uniform_at(a->rng_key, a->rng_step ? *a->rng_step : 0, offset, n, out);
}

static void *host_alloc(void *host_ctx, size_t bytes) { return gr_alloc(host_ctx, bytes); }
static void host_free(void *host_ctx, void *p) { gr_free(host_ctx, p); }

static void host_table_init(struct gr_host *host) {
    memset(host, 0, sizeof *host);
    host->abi_version = GR_ABI_VERSION;
    host->size = (uint32_t)sizeof *host;
    host->register_op = host_register_op;
    host->sgemm = host_sgemm;
    host->parallel_for = host_parallel_for;
    host->alloc = host_alloc;
    host->free = host_free;
    host->random_uniform = host_random_uniform;
    host->threads = host_threads;
}

/* ---- the context ------------------------------------------------------------ */

int gr_ctx_init(struct gr_ctx *ctx) {
    gr_ctx_base_init(ctx);
    host_table_init(&ctx->host);
    gr_blas_set_threads(1);
    ctx->reg = gr_registry_new(ctx);
    if (!ctx->reg) return -1;
    char err[GR_ERR_LEN] = "";
    if (gr_registry_add_builtins(ctx->reg, gr_builtin_init, err, sizeof err)) {
        gr_fail(ctx, "registering built-in ops and optimizers: %s", err);
        gr_registry_free(ctx, ctx->reg);
        ctx->reg = NULL;
        return -1;
    }
    return 0;
}

int gr_ctx_set_threads(struct gr_ctx *ctx, int n) {
    if (n <= 0) n = gr_cpu_count();
    gr_pool_free(ctx, ctx->pool);
    ctx->pool = NULL;
    if (n > 1) {
        ctx->pool = gr_pool_new(ctx, n);
        if (!ctx->pool) return -1;
    }
    /* OpenBLAS stays single-threaded: large products are split over the
     * pool instead (host_sgemm above), so the two never oversubscribe */
    gr_blas_set_threads(1);
    return 0;
}

void gr_ctx_free(struct gr_ctx *ctx) {
    gr_pool_free(ctx, ctx->pool);
    ctx->pool = NULL;
    /* the registry points into plugins' memory: free it before unloading them */
    if (ctx->reg) gr_registry_free(ctx, ctx->reg);
    ctx->reg = NULL;
    gr_plugins_unload(ctx);
}
