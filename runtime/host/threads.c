/* sched_getaffinity and CPU_COUNT are GNU extensions */
#define _GNU_SOURCE
#include "runtime/host/threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/clock.h"
#include "runtime/base/ctx.h"

#define GR_POOL_MAX 64
/* How a thread waits (for a job, or for the last chunk of one): it polls
 * with `pause` GR_PAUSE_POLLS times (a few microseconds), then polls with
 * sched_yield until GR_SPIN_NS have passed, then sleeps on a condition
 * variable. Polling pays because a training step dispatches several jobs in
 * quick succession and waking a sleeping thread costs tens of microseconds;
 * yielding keeps polling from starving the thread the waiter waits for when
 * the two share a core (taskset, a cgroup quota, other busy processes): it
 * hands the core over, and returns at once when nothing else is runnable. */
#define GR_PAUSE_POLLS 64
#define GR_SPIN_NS 200000

struct worker_arg {
    struct gr_pool *pool;
    int index;
};

/* A job is cut into n_threads chunks whose bounds depend only on (n,
 * n_threads), so the numbers never depend on which thread runs a chunk:
 * any thread claims the next chunk not yet taken, and a descheduled worker
 * delays nobody, since the others (the submitter too) take its share. */
struct gr_pool {
    int n_threads;
    pthread_t tid[GR_POOL_MAX];
    struct worker_arg args[GR_POOL_MAX];
    /* the job in flight; written before `claim` announces it */
    void (*fn)(void *arg, int64_t begin, int64_t end);
    void *arg;
    int64_t n;
    /* (generation << 8) | next chunk to claim: one word, so a claim can only
     * take a chunk of the job its claimer saw */
    _Atomic uint64_t claim;
    _Atomic int done;    /* chunks of the current job finished */
    _Atomic int busy;    /* a job is running: nested calls run inline */
    _Atomic int sleepers; /* workers asleep on `wake` */
    _Atomic int waiting; /* the submitter is asleep on `finished` */
    _Atomic int stop;
    pthread_mutex_t mu;
    pthread_cond_t wake, finished;
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

/* One poll of a bounded wait: 1 to poll again, 0 when it is time to sleep. */
struct poller {
    unsigned polls;
    int64_t start;
};

static int poll_again(struct poller *p) {
    if (p->polls++ < GR_PAUSE_POLLS) {
        cpu_relax();
        return 1;
    }
    if (p->start == 0) p->start = gr_now_ns();
    sched_yield();
    return gr_now_ns() - p->start < GR_SPIN_NS;
}

static uint64_t generation(uint64_t claim) { return claim >> 8; }

/* Claim and run chunks of job `gen` until none is left. */
static void run_chunks(struct gr_pool *pool, uint64_t gen) {
    uint64_t c = atomic_load(&pool->claim);
    while (generation(c) == gen && (int)(c & 0xff) < pool->n_threads) {
        if (!atomic_compare_exchange_weak(&pool->claim, &c, c + 1)) continue;
        /* the job cannot change before this chunk counts as done */
        int64_t b, e;
        chunk(pool->n, pool->n_threads, (int)(c & 0xff), &b, &e);
        if (e > b) pool->fn(pool->arg, b, e);
        /* done is raised before waiting is read, and the submitter raises
         * waiting before it reads done (both sequentially consistent), so
         * either it sees every chunk done or this thread sees it waiting */
        if (atomic_fetch_add(&pool->done, 1) + 1 == pool->n_threads && atomic_load(&pool->waiting)) {
            pthread_mutex_lock(&pool->mu);
            pthread_cond_broadcast(&pool->finished);
            pthread_mutex_unlock(&pool->mu);
        }
        c = atomic_load(&pool->claim);
    }
}

/* The generation of the first job after `seen` (or anything once stopping). */
static uint64_t next_job(struct gr_pool *pool, uint64_t seen) {
    uint64_t g = generation(atomic_load(&pool->claim));
    for (struct poller p = {0}; g == seen && !atomic_load(&pool->stop) && poll_again(&p);)
        g = generation(atomic_load(&pool->claim));
    if (g != seen || atomic_load(&pool->stop)) return g;
    /* sleepers is raised before claim is read again, and the submitter
     * changes claim before reading sleepers, so one of the two always sees
     * the other */
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add(&pool->sleepers, 1);
    while ((g = generation(atomic_load(&pool->claim))) == seen && !atomic_load(&pool->stop))
        pthread_cond_wait(&pool->wake, &pool->mu);
    atomic_fetch_sub(&pool->sleepers, 1);
    pthread_mutex_unlock(&pool->mu);
    return g;
}

static void *worker(void *p) {
    struct worker_arg *wa = p;
    struct gr_pool *pool = wa->pool;
    uint64_t seen = 0;
    for (;;) {
        seen = next_job(pool, seen);
        if (atomic_load(&pool->stop)) break;
        run_chunks(pool, seen);
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
    pthread_cond_init(&pool->finished, NULL);
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
    pthread_cond_destroy(&pool->finished);
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
    atomic_store(&pool->done, 0);
    uint64_t gen = generation(atomic_load(&pool->claim)) + 1;
    atomic_store(&pool->claim, gen << 8);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mu);
    }
    run_chunks(pool, gen);
    /* the chunks other threads took: poll, then sleep until the last one
     * finishing wakes this thread */
    for (struct poller p = {0}; atomic_load(&pool->done) < pool->n_threads && poll_again(&p);) {
    }
    if (atomic_load(&pool->done) < pool->n_threads) {
        pthread_mutex_lock(&pool->mu);
        atomic_store(&pool->waiting, 1);
        while (atomic_load(&pool->done) < pool->n_threads) pthread_cond_wait(&pool->finished, &pool->mu);
        atomic_store(&pool->waiting, 0);
        pthread_mutex_unlock(&pool->mu);
    }
    atomic_store(&pool->busy, 0);
}

void gr_pool_run_alone(struct gr_pool *pool, int64_t n, void (*fn)(void *arg, int64_t begin, int64_t end), void *arg) {
    int was = !pool || atomic_exchange(&pool->busy, 1);
    fn(arg, 0, n);
    if (!was) atomic_store(&pool->busy, 0);
}

/* ---- how many threads by default ------------------------------------------ */

/* The CPU limit of one cgroup folder: cpu.max (v2: "QUOTA PERIOD" or "max
 * PERIOD") or cpu.cfs_quota_us and cpu.cfs_period_us (v1: -1 is none).
 * Returns the quota in CPUs, or 0 when there is none or no such file. */
static double folder_limit(const char *dir) {
    char path[4300];
    long long quota = 0, period = 0;
    if (snprintf(path, sizeof path, "%s/cpu.max", dir) >= (int)sizeof path) return 0;
    FILE *f = fopen(path, "r");
    if (f) {
        char q[32];
        int ok = fscanf(f, "%31s %lld", q, &period) == 2;
        fclose(f);
        if (!ok || strcmp(q, "max") == 0) return 0;
        quota = strtoll(q, NULL, 10);
    } else {
        if (snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir) >= (int)sizeof path || !(f = fopen(path, "r")))
            return 0;
        int ok = fscanf(f, "%lld", &quota) == 1;
        fclose(f);
        if (!ok || snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir) >= (int)sizeof path ||
            !(f = fopen(path, "r")))
            return 0;
        ok = fscanf(f, "%lld", &period) == 1;
        fclose(f);
        if (!ok) return 0;
    }
    return quota > 0 && period > 0 ? (double)quota / (double)period : 0;
}

/* The smallest limit of `rel` and its ancestors under `mount` (a folder that
 * does not exist, as a host's path seen from inside a container, has none). */
static double path_limit(const char *mount, const char *rel) {
    char dir[4200];
    double best = 0;
    snprintf(dir, sizeof dir, "%s%s", mount, rel);
    size_t root = strlen(mount);
    for (;;) {
        double q = folder_limit(dir);
        if (q > 0 && (best == 0 || q < best)) best = q;
        char *slash = strrchr(dir + root, '/');
        if (!slash) break;
        *slash = 0;
    }
    return best;
}

int gr_cgroup_cpus(const char *proc_cgroup, const char *root) {
    double best = 0;
    char mount[4200];
    for (const char *line = proc_cgroup; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[4096];
        if (len < sizeof buf) {
            memcpy(buf, line, len);
            buf[len] = 0;
            /* "ID:CONTROLLERS:PATH"; v2's line is "0::PATH" */
            char *c1 = strchr(buf, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (c2 && c2[1] == '/') {
                *c2 = 0;
                const char *ctrl = c1 + 1, *rel = c2 + 1;
                if (rel[1] == 0) rel = ""; /* "/" */
                double q = 0, r;
                if (*ctrl == 0) { /* v2, mounted alone or under unified/ in hybrid set-ups */
                    snprintf(mount, sizeof mount, "%s", root);
                    q = path_limit(mount, rel);
                    snprintf(mount, sizeof mount, "%s/unified", root);
                    if ((r = path_limit(mount, rel)) > 0 && (q == 0 || r < q)) q = r;
                } else {
                    /* v1: the cpu controller, alone or with others ("cpu,cpuacct") */
                    int has_cpu = 0;
                    char list[256];
                    snprintf(list, sizeof list, "%s", ctrl);
                    char *save = NULL;
                    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
                        has_cpu |= strcmp(t, "cpu") == 0;
                    if (has_cpu) {
                        snprintf(mount, sizeof mount, "%s/%s", root, ctrl);
                        q = path_limit(mount, rel);
                        snprintf(mount, sizeof mount, "%s/cpu", root);
                        if ((r = path_limit(mount, rel)) > 0 && (q == 0 || r < q)) q = r;
                    }
                }
                if (q > 0 && (best == 0 || q < best)) best = q;
            }
        }
        line = end ? end + 1 : NULL;
    }
    if (best <= 0) return 0;
    double up = (double)(long long)best;
    if (up < best) up += 1;
    return up < 1 ? 1 : up > 1e6 ? 1000000 : (int)up;
}

int gr_cpu_online(void) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online < 1 ? 1 : online > 1000000 ? 1000000 : (int)online;
}

int gr_cpu_count(void) {
    int n = gr_cpu_online();
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int a = CPU_COUNT(&set);
        if (a >= 1 && a < n) n = a;
    }
    char text[8192];
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f) {
        size_t got = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[got] = 0;
        int q = gr_cgroup_cpus(text, "/sys/fs/cgroup");
        if (q >= 1 && q < n) n = q;
    }
    return n;
}
