/* Opening and closing a context: the ground (errors, allocator, generator:
 * runtime/base/ctx.h) plus the host - the host table kernels and plugins
 * call (sgemm, parallel_for, alloc), the registry holding every built-in op
 * and optimizer, and the thread pool. Everything a runtime call needs hangs
 * off the one context pointer. */
#ifndef GR_HOST_HOST_H
#define GR_HOST_HOST_H

struct gr_ctx;

/* Sets up the context with the built-in ops and optimizers registered.
 * Returns 0 or -1 (see ctx->err). */
int gr_ctx_init(struct gr_ctx *ctx);
/* Use n threads for kernels and BLAS (0: gr_cpu_count(), the CPUs this
 * process may use). */
int gr_ctx_set_threads(struct gr_ctx *ctx, int n);
/* The pool, the registry and the plugins, in that order. */
void gr_ctx_free(struct gr_ctx *ctx);
/* Threads OpenBLAS may use for one product (graphrun keeps it at 1). */
void gr_blas_set_threads(int n);

#endif
