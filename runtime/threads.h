/* A fixed pool of worker threads owned by the context. Work is split into
 * contiguous chunks that depend only on (n, thread count), so results are
 * the same run after run for a given thread count. */
#ifndef GR_THREADS_H
#define GR_THREADS_H

#include <stdint.h>

struct gr_ctx;
struct gr_pool;

/* n_threads counts the caller: 1 makes a pool with no workers. */
struct gr_pool *gr_pool_new(struct gr_ctx *ctx, int n_threads);
void gr_pool_free(struct gr_ctx *ctx, struct gr_pool *pool);
int gr_pool_threads(const struct gr_pool *pool);

/* fn(arg, begin, end) over [0, n) in chunks, one per thread; the caller runs
 * the first chunk. A NULL pool runs fn(arg, 0, n) inline. */
void gr_pool_run(struct gr_pool *pool, int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end), void *arg);

/* Whether a job is running (a call now would run inline). */
int gr_pool_busy(struct gr_pool *pool);

/* Number of online CPUs (at least 1). */
int gr_cpu_count(void);

#endif
