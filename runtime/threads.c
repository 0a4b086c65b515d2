#include "threads.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"

#define GR_POOL_MAX 64

struct gr_pool {
    int n_threads;
    pthread_t tid[GR_POOL_MAX];
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    /* the job in flight */
    void (*fn)(void *arg, int64_t begin, int64_t end);
    void *arg;
    int64_t n;
    uint64_t generation; /* bumped per job; workers wait for a new one */
    int pending;         /* workers still running the current job */
    int stop;
};

struct worker_arg {
    struct gr_pool *pool;
    int index;
};

static void chunk(int64_t n, int parts, int i, int64_t *b, int64_t *e) {
    *b = n * i / parts;
    *e = n * (i + 1) / parts;
}

static void *worker(void *p) {
    struct worker_arg *wa = p;
    struct gr_pool *pool = wa->pool;
    int index = wa->index;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!pool->stop && pool->generation == seen) pthread_cond_wait(&pool->wake, &pool->mu);
        if (pool->stop) break;
        seen = pool->generation;
        void (*fn)(void *, int64_t, int64_t) = pool->fn;
        void *arg = pool->arg;
        int64_t n = pool->n;
        pthread_mutex_unlock(&pool->mu);
        int64_t b, e;
        chunk(n, pool->n_threads, index, &b, &e);
        if (e > b) fn(arg, b, e);
        pthread_mutex_lock(&pool->mu);
        if (--pool->pending == 0) pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

struct gr_pool *gr_pool_new(struct gr_ctx *ctx, int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > GR_POOL_MAX) n_threads = GR_POOL_MAX;
    struct gr_pool *pool = gr_calloc(ctx, 1, sizeof *pool + (size_t)n_threads * sizeof(struct worker_arg));
    if (!pool) return NULL;
    struct worker_arg *args = (struct worker_arg *)(pool + 1);
    pool->n_threads = n_threads;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    for (int i = 1; i < n_threads; i++) {
        args[i].pool = pool;
        args[i].index = i;
        if (pthread_create(&pool->tid[i], NULL, worker, &args[i]) != 0) {
            pool->n_threads = i; /* keep the workers that started */
            break;
        }
    }
    return pool;
}

void gr_pool_free(struct gr_ctx *ctx, struct gr_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n_threads; i++) pthread_join(pool->tid[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    gr_free(ctx, pool);
}

int gr_pool_threads(const struct gr_pool *pool) { return pool ? pool->n_threads : 1; }

void gr_pool_run(struct gr_pool *pool, int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end), void *arg) {
    if (n <= 0) return;
    if (!pool || pool->n_threads == 1 || n == 1) {
        fn(arg, 0, n);
        return;
    }
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->arg = arg;
    pool->n = n;
    pool->pending = pool->n_threads - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);

    int64_t b, e;
    chunk(n, pool->n_threads, 0, &b, &e);
    if (e > b) fn(arg, b, e);

    pthread_mutex_lock(&pool->mu);
    while (pool->pending > 0) pthread_cond_wait(&pool->done, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
}

int gr_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
