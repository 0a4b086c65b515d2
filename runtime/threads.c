#include "threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"

#define GR_POOL_MAX 64
/* Idle workers spin this many polls (a few hundred microseconds) before
 * sleeping: a training step dispatches several parallel regions in quick
 * succession, and waking a sleeping thread costs tens of microseconds. */
#define GR_SPIN_POLLS 200000

struct worker_arg {
    struct gr_pool *pool;
    int index;
};

struct gr_pool {
    int n_threads;
    pthread_t tid[GR_POOL_MAX];
    struct worker_arg args[GR_POOL_MAX];
    /* the job in flight; written before `generation` is bumped */
    void (*fn)(void *arg, int64_t begin, int64_t end);
    void *arg;
    int64_t n;
    _Atomic uint64_t generation; /* bumped per job */
    _Atomic int pending;         /* workers still running the current job */
    _Atomic int busy;            /* a job is running: nested calls run inline */
    _Atomic int sleepers;
    _Atomic int stop;
    pthread_mutex_t mu;
    pthread_cond_t wake;
};

static void chunk(int64_t n, int parts, int i, int64_t *b, int64_t *e) {
    *b = n * i / parts;
    *e = n * (i + 1) / parts;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker(void *p) {
    struct worker_arg *wa = p;
    struct gr_pool *pool = wa->pool;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g = atomic_load(&pool->generation);
        for (int spin = 0; g == seen && spin < GR_SPIN_POLLS && !atomic_load(&pool->stop); spin++) {
            cpu_relax();
            g = atomic_load(&pool->generation);
        }
        if (g == seen) {
            /* sleepers is raised before generation is read again, and the
             * submitter bumps generation before reading sleepers, so one of
             * the two always sees the other (both are sequentially consistent) */
            pthread_mutex_lock(&pool->mu);
            atomic_fetch_add(&pool->sleepers, 1);
            while ((g = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->wake, &pool->mu);
            atomic_fetch_sub(&pool->sleepers, 1);
            pthread_mutex_unlock(&pool->mu);
        }
        if (atomic_load(&pool->stop)) break;
        seen = g;
        int64_t b, e;
        chunk(pool->n, pool->n_threads, wa->index, &b, &e);
        if (e > b) pool->fn(pool->arg, b, e);
        atomic_fetch_sub(&pool->pending, 1);
    }
    return NULL;
}

struct gr_pool *gr_pool_new(struct gr_ctx *ctx, int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > GR_POOL_MAX) n_threads = GR_POOL_MAX;
    struct gr_pool *pool = gr_calloc(ctx, 1, sizeof *pool);
    if (!pool) return NULL;
    pool->n_threads = n_threads;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->wake, NULL);
    for (int i = 1; i < n_threads; i++) {
        pool->args[i].pool = pool;
        pool->args[i].index = i;
        if (pthread_create(&pool->tid[i], NULL, worker, &pool->args[i]) != 0) {
            pool->n_threads = i; /* keep the workers that started */
            break;
        }
    }
    return pool;
}

void gr_pool_free(struct gr_ctx *ctx, struct gr_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->stop, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n_threads; i++) pthread_join(pool->tid[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->wake);
    gr_free(ctx, pool);
}

int gr_pool_threads(const struct gr_pool *pool) { return pool ? pool->n_threads : 1; }

int gr_pool_busy(struct gr_pool *pool) { return pool && atomic_load(&pool->busy); }

void gr_pool_run(struct gr_pool *pool, int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end), void *arg) {
    if (n <= 0) return;
    /* one chunk, no workers, or called from inside a job: run here */
    if (!pool || pool->n_threads == 1 || n == 1 || atomic_load(&pool->busy)) {
        fn(arg, 0, n);
        return;
    }
    atomic_store(&pool->busy, 1);
    pool->fn = fn;
    pool->arg = arg;
    pool->n = n;
    atomic_store(&pool->pending, pool->n_threads - 1);
    atomic_fetch_add(&pool->generation, 1);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mu);
    }
    int64_t b, e;
    chunk(n, pool->n_threads, 0, &b, &e);
    if (e > b) fn(arg, b, e);
    while (atomic_load(&pool->pending) > 0) cpu_relax();
    atomic_store(&pool->busy, 0);
}

int gr_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
