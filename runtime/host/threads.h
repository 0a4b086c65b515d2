/* A fixed pool of worker threads owned by the context. Work is split into
 * contiguous chunks that depend only on (n, thread count), so results are
 * the same run after run for a given thread count, whichever thread runs
 * which chunk. Waiting is bounded: a thread polls briefly, yielding its core,
 * then sleeps (runtime/threads.c), so more threads than free cores slows a
 * run down but never stalls it. */
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
 * chunks too, and returns when all are done. A NULL pool runs fn(arg, 0, n)
 * inline. */
void gr_pool_run(struct gr_pool *pool, int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end), void *arg);

/* fn(arg, 0, n) on the calling thread alone, as one job: what it runs on
 * the pool (a product, a parallel_for) runs inline, as from a chunk. */
void gr_pool_run_alone(struct gr_pool *pool, int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end), void *arg);

/* Whether a job is running (a call now would run inline). */
int gr_pool_busy(struct gr_pool *pool);

/* The CPUs this process may use (at least 1): the least of the online CPUs,
 * the CPUs of its affinity mask (taskset, cpusets) and its cgroup's CPU
 * quota rounded up. */
int gr_cpu_count(void);
/* The host's online CPUs, whatever this process may use of them: what the
 * ranks of a job on one host share out. */
int gr_cpu_online(void);

/* The CPU quota, in whole CPUs rounded up, of the cgroups listed in
 * `proc_cgroup` (the text of /proc/self/cgroup) under `root` (where cgroup
 * file systems are mounted: /sys/fs/cgroup), the smallest over v1's cpu
 * controller, v2 and every ancestor folder; 0 when none is set. */
int gr_cgroup_cpus(const char *proc_cgroup, const char *root);

#endif
