#include "runtime/host/registry.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "runtime/front/check.h"
#include "runtime/base/ctx.h"
#include "runtime/base/text.h"
#include "runtime/host/threads.h"

/* ---- host functions handed to ops ---------------------------------------- */

static void blas_sgemm(enum gr_trans ta, enum gr_trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                       const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    GR_ASSERT(m >= 0 && n >= 0 && k >= 0 && m <= INT32_MAX && n <= INT32_MAX && k <= INT32_MAX);
    if (m == 0 || n == 0) return;
    cblas_sgemm(CblasRowMajor, ta == GR_TRANS ? CblasTrans : CblasNoTrans, tb == GR_TRANS ? CblasTrans : CblasNoTrans,
                (blasint)m, (blasint)n, (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

/* A product split over the pool: by rows of C when it is taller than wide,
 * else by columns in multiples of 16 floats. Each part is one single-threaded
 * OpenBLAS call over the whole K, so every element is summed as it would be
 * unsplit. */
struct gemm_job {
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
            blas_sgemm(j->ta, j->tb, r1 - r0, j->n, j->k, j->alpha, a, j->lda, j->b, j->ldb, j->beta,
                       j->c + r0 * j->ldc, j->ldc);
        } else {
            int64_t blocks = (j->n + 15) / 16;
            int64_t c0 = blocks * p / j->parts * 16, c1 = blocks * (p + 1) / j->parts * 16;
            if (c1 > j->n) c1 = j->n;
            if (c1 <= c0) continue;
            const float *b = j->tb == GR_TRANS ? j->b + c0 * j->ldb : j->b + c0;
            blas_sgemm(j->ta, j->tb, j->m, c1 - c0, j->k, j->alpha, j->a, j->lda, b, j->ldb, j->beta, j->c + c0,
                       j->ldc);
        }
    }
}

/* Below this many multiply-adds a product runs on the calling thread. */
#define GR_GEMM_SPLIT_MIN (1 << 18)

static void host_sgemm(void *host_ctx, enum gr_trans ta, enum gr_trans tb, int64_t m, int64_t n, int64_t k,
                       float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                       int64_t ldc) {
    struct gr_ctx *ctx = host_ctx;
    struct gr_pool *pool = ctx ? ctx->pool : NULL;
    int threads = gr_pool_threads(pool);
    if (threads == 1 || gr_pool_busy(pool) || m * n * k < GR_GEMM_SPLIT_MIN || (m < 2 * threads && n < 32 * threads)) {
        blas_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    struct gemm_job j = {ta, tb, m, n, k, lda, ldb, ldc, threads, alpha, beta, a, b, c, m >= n};
    gr_pool_run(pool, threads, gemm_part, &j);
}

void gr_blas_set_threads(int n) { openblas_set_num_threads(n); }

static void host_parallel_for(void *host_ctx, int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end),
                              void *arg) {
    struct gr_ctx *ctx = host_ctx;
    gr_pool_run(ctx ? ctx->pool : NULL, n, fn, arg);
}

static int host_register_op(void *host_ctx, const struct gr_op_desc *desc, char *err, size_t err_len);

static void *host_alloc(void *host_ctx, size_t bytes) { return gr_alloc(host_ctx, bytes); }
static void host_free(void *host_ctx, void *p) { gr_free(host_ctx, p); }

void gr_host_init(struct gr_host *host) {
    memset(host, 0, sizeof *host);
    host->abi_version = GR_ABI_VERSION;
    host->size = (uint32_t)sizeof *host;
    host->register_op = host_register_op;
    host->sgemm = host_sgemm;
    host->parallel_for = host_parallel_for;
    host->alloc = host_alloc;
    host->free = host_free;
}

/* ---- the registry --------------------------------------------------------- */

struct gr_registry *gr_registry_new(struct gr_ctx *ctx) {
    struct gr_registry *reg = gr_calloc(ctx, 1, sizeof *reg);
    if (!reg) return NULL;
    reg->ctx = ctx;
    reg->origin = "built-in";
    reg->allow_internal = 1;
    ctx->reg = reg;
    char err[GR_ERR_LEN] = "";
    if (gr_builtin_init(&ctx->host, ctx, err, sizeof err)) {
        gr_fail(ctx, "registering built-in ops: %s", err);
        ctx->reg = NULL;
        gr_registry_free(ctx, reg);
        return NULL;
    }
    reg->allow_internal = 0;
    return reg;
}

void gr_registry_free(struct gr_ctx *ctx, struct gr_registry *reg) {
    gr_free(ctx, reg->ops);
    gr_free(ctx, reg);
}

const struct gr_op_entry *gr_registry_entry(const struct gr_registry *reg, const char *name) {
    for (int i = 0; i < reg->n; i++)
        if (strcmp(reg->ops[i].desc->name, name) == 0) return &reg->ops[i];
    return NULL;
}

const struct gr_op_desc *gr_registry_find(const struct gr_registry *reg, const char *name) {
    const struct gr_op_entry *e = gr_registry_entry(reg, name);
    return e ? e->desc : NULL;
}

const char *gr_registry_suggest(const struct gr_registry *reg, const char *name) {
    struct gr_suggest sg;
    gr_suggest_init(&sg, name);
    for (int i = 0; i < reg->n; i++)
        if (!(reg->ops[i].desc->flags & GR_OP_PARAM)) gr_suggest_offer(&sg, reg->ops[i].desc->name);
    return gr_suggest_best(&sg);
}

static int valid_name(const char *s) {
    if (!s || !*s || strlen(s) > 63) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
    return 1;
}

/* Everything a descriptor must get right, checked once at registration so the
 * runtime can trust it afterwards. */
static int check_desc(struct gr_registry *reg, const struct gr_op_desc *d, char *err, size_t len) {
    if (!d) return snprintf(err, len, "op descriptor is NULL"), -1;
    if (!valid_name(d->name))
        return snprintf(err, len, "op name '%s' must be 1-63 characters of a-z, 0-9 and _",
                        d->name ? d->name : "(null)"), -1;
    const char *n = d->name;
    if (gr_registry_find(reg, n)) {
        const struct gr_op_entry *e = gr_registry_entry(reg, n);
        return snprintf(err, len, "op '%s' is already registered (by %s)", n, e->origin), -1;
    }
    if (!d->infer) return snprintf(err, len, "op '%s': descriptor has no infer function", n), -1;
    if (!d->forward) return snprintf(err, len, "op '%s': descriptor has no forward function", n), -1;
    if (!d->summary || !*d->summary) return snprintf(err, len, "op '%s': descriptor has no summary", n), -1;
    if (d->max_inputs > 0 && (!d->inputs_doc || !*d->inputs_doc))
        return snprintf(err, len, "op '%s': descriptor has no inputs_doc (its inputs and their shapes)", n), -1;
    if ((d->flags & (GR_OP_INPUT | GR_OP_PARAM)) && !reg->allow_internal)
        return snprintf(err, len, "op '%s': input and parameter ops are reserved to graphrun", n), -1;
    if (d->flags & ~(unsigned)(GR_OP_INPUT | GR_OP_PARAM | GR_OP_VIEW))
        return snprintf(err, len, "op '%s': unknown flags 0x%x", n, d->flags), -1;
    if ((d->flags & GR_OP_VIEW) && d->min_inputs < 1)
        return snprintf(err, len, "op '%s': a view needs an input to view", n), -1;
    if (d->min_inputs < 0 || d->max_inputs < d->min_inputs)
        return snprintf(err, len, "op '%s': inputs must satisfy 0 <= min_inputs <= max_inputs", n), -1;
    if (d->n_params < 0 || d->n_params > GR_MAX_PARAMS || (d->n_params && !d->params))
        return snprintf(err, len, "op '%s': n_params must be 0..%d with a params table", n, GR_MAX_PARAMS), -1;
    if (d->max_inputs + d->n_params > GR_MAX_INPUTS)
        return snprintf(err, len, "op '%s': max_inputs + n_params exceeds %d", n, GR_MAX_INPUTS), -1;
    for (int i = 0; i < d->n_params; i++) {
        const struct gr_param_spec *p = &d->params[i];
        if (!valid_name(p->name)) return snprintf(err, len, "op '%s': parameter %d has an invalid name", n, i), -1;
        if ((unsigned)p->init >= GR_INIT_COUNT)
            return snprintf(err, len, "op '%s': parameter '%s' has an unknown initializer", n, p->name), -1;
    }
    if (d->n_attrs < 0 || d->n_attrs > GR_MAX_ATTRS || (d->n_attrs && !d->attrs))
        return snprintf(err, len, "op '%s': n_attrs must be 0..%d with an attrs table", n, GR_MAX_ATTRS), -1;
    static const char *const reserved[] = {"name", "op", "inputs"};
    for (int i = 0; i < d->n_attrs; i++) {
        const struct gr_attr_spec *a = &d->attrs[i];
        if (!valid_name(a->name)) return snprintf(err, len, "op '%s': attribute %d has an invalid name", n, i), -1;
        for (int r = 0; r < 3; r++)
            if (strcmp(a->name, reserved[r]) == 0)
                return snprintf(err, len, "op '%s': attribute name '%s' is reserved", n, a->name), -1;
        for (int j = 0; j < i; j++)
            if (strcmp(a->name, d->attrs[j].name) == 0)
                return snprintf(err, len, "op '%s': attribute '%s' declared twice", n, a->name), -1;
        if (!a->doc || !*a->doc) return snprintf(err, len, "op '%s': attribute '%s' has no doc", n, a->name), -1;
        if ((unsigned)a->type > GR_ATTR_INTS)
            return snprintf(err, len, "op '%s': attribute '%s' has an unknown type", n, a->name), -1;
        if (a->def) {
            struct gr_attr_value v;
            char what[128];
            snprintf(what, sizeof what, "op '%s': default of '%s'", n, a->name);
            if (gr_attr_default(reg->ctx, a, what, &v))
                return snprintf(err, len, "%s", reg->ctx->err), -1;
        }
    }
    return 0;
}

static int host_register_op(void *host_ctx, const struct gr_op_desc *desc, char *err, size_t err_len) {
    struct gr_ctx *ctx = host_ctx;
    struct gr_registry *reg = ctx ? ctx->reg : NULL;
    if (!reg) return snprintf(err, err_len, "register_op: no graphrun context"), -1;
    if (check_desc(reg, desc, err, err_len)) return -1;
    if (reg->n == reg->cap) {
        int cap = reg->cap ? 2 * reg->cap : 32;
        struct gr_op_entry *ops = gr_alloc(reg->ctx, (size_t)cap * sizeof *ops);
        if (!ops) return snprintf(err, err_len, "out of memory"), -1;
        if (reg->ops) memcpy(ops, reg->ops, (size_t)reg->n * sizeof *ops);
        gr_free(reg->ctx, reg->ops);
        reg->ops = ops;
        reg->cap = cap;
    }
    reg->ops[reg->n].desc = desc;
    reg->ops[reg->n].origin = reg->origin;
    reg->n++;
    return 0;
}
