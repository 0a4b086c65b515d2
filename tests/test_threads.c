/* Never pathological: the thread pool's work split depends only on (n,
 * thread count), more threads than cores still finish and give the same
 * numbers, the default thread count follows the CPUs this process may use
 * (affinity mask, cgroup quota), and OpenBLAS runs kernels this CPU supports.
 * Nothing here is timed: tools/bench/threads.sh measures. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helpers.h"
#include "runtime/config/config.h"
#include "runtime/host/threads.h"
#include "models/open.h"
#include "runtime/session/evaluate.h"

TestSuite(threads, .timeout = 300);

/* Keep this process on CPU 0 only: every thread shares one core. */
static void pin_to_one_cpu(void) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
}

#define MAX_N 1000
struct record {
    _Atomic int hits[MAX_N];
    _Atomic int64_t ends[MAX_N]; /* end of the chunk that began here, + 1 */
};

static void mark(void *arg, int64_t begin, int64_t end) {
    struct record *r = arg;
    atomic_store(&r->ends[begin], end + 1);
    for (int64_t i = begin; i < end; i++) atomic_fetch_add(&r->hits[i], 1);
}

/* Every element once, in exactly the chunks n * i / T .. n * (i + 1) / T. */
static void check_split(struct gr_pool *pool, int threads, int64_t n) {
    static struct record r;
    memset(&r, 0, sizeof r);
    gr_pool_run(pool, n, mark, &r);
    for (int64_t i = 0; i < n; i++) cr_assert_eq(atomic_load(&r.hits[i]), 1, "n %lld: element %lld", (long long)n, (long long)i);
    int parts = n == 1 ? 1 : threads;
    int64_t chunks = 0;
    for (int i = 0; i < parts; i++) {
        int64_t b = n * i / parts, e = n * (i + 1) / parts;
        if (e == b) continue;
        chunks++;
        cr_assert_eq(atomic_load(&r.ends[b]) - 1, e, "n %lld, %d threads: chunk %d is [%lld, %lld)", (long long)n,
                     threads, i, (long long)b, (long long)e);
    }
    int64_t seen = 0;
    for (int64_t i = 0; i < n; i++) seen += atomic_load(&r.ends[i]) != 0;
    cr_assert_eq(seen, chunks, "n %lld, %d threads: %lld chunks, expected %lld", (long long)n, threads,
                 (long long)seen, (long long)chunks);
}

static void split_at(int threads) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_pool *pool = gr_pool_new(&ctx, threads);
    cr_assert(pool);
    cr_assert_eq(gr_pool_threads(pool), threads);
    for (int round = 0; round < 200; round++)
        for (int64_t n = 1; n <= 67; n += 11) check_split(pool, threads, n);
    check_split(pool, threads, MAX_N);
    gr_pool_free(&ctx, pool);
    gr_ctx_free(&ctx);
}

Test(threads, chunks_depend_only_on_the_size_and_the_thread_count) {
    for (int t = 2; t <= 5; t++) split_at(t);
}

Test(threads, more_threads_than_cores_keep_the_same_chunks) {
    pin_to_one_cpu();
    for (int t = 2; t <= 8; t *= 2) split_at(t);
}

/* The reference model on 2000 MNIST images for `steps` steps. */
static void losses(int threads, int steps, float *out) {
    char text[4096];
    tg_small_config(text, sizeof text, 16, steps, "{name: adam, lr: 0.01}", NULL, 1000);
    struct gr_ctx ctx;
    struct gr_config cfg;
    struct gr_session s;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    cr_assert_eq(gr_config_parse(&ctx, &cfg, "threads.yaml", "", text, strlen(text)), 0, "%s", ctx.err);
    struct gr_session_opts opts = {.threads = threads};
    cr_assert_eq(gr_session_open(&ctx, &s, &cfg, &opts), 0, "%s (run tools/fetch_mnist.sh)", ctx.err);
    cr_assert_eq(gr_pool_threads(ctx.pool), threads);
    for (int i = 0; i < steps; i++) out[i] = gr_session_step(&s);
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

Test(threads, threads_sharing_one_core_give_the_numbers_of_free_ones) {
    float free2[20], pinned2[20], pinned4[20], free4[20];
    losses(2, 20, free2);
    losses(4, 20, free4);
    pin_to_one_cpu();
    losses(2, 20, pinned2);
    losses(4, 20, pinned4);
    cr_expect_arr_eq(pinned2, free2, sizeof free2, "2 threads on one core: the losses of 2 free threads");
    cr_expect_arr_eq(pinned4, free4, sizeof free4, "4 threads on one core: the losses of 4 free threads");
}

/* CONFIG, in the source tree's `dir`, trained with the overrides `sets`
 * at 1, 2 and 3 threads (tg_train_tensors): the checkpoint's tensors must
 * be the same bytes. */
static void expect_same_at_1_to_3_threads(const char *dir, const char *config, const char *sets, const char *what) {
    char tmp[256];
    tg_tmpdir(tmp, sizeof tmp, "samethreads");
    char *ck[3] = {NULL, NULL, NULL};
    size_t len[3] = {0, 0, 0};
    for (int t = 0; t < 3; t++) ck[t] = tg_train_tensors(tmp, dir, config, t + 1, sets, &len[t]);
    for (int t = 1; t < 3; t++)
        cr_expect(len[t] == len[0] && memcmp(ck[t], ck[0], len[0]) == 0,
                  "%s: the checkpoint's tensors differ between 1 and %d threads", what, t + 1);
    for (int t = 0; t < 3; t++) free(ck[t]);
    tg_rmtree(tmp);
}

/* Where a batch is one leaf the ops split their work over the threads: a
 * GRU and an RNN at batches 32 and 20, whose recurrences run in smaller
 * blocks on more threads (ops/recurrent.h). Their input-weight gradient,
 * [28, 560]^T @ [560, 96] for the GRU at batch 20, once went to OpenBLAS,
 * split over the threads, which changed its bits; so did a 150-unit GRU's
 * per-step products ([n, 150] @ [150, 450], [n, 450] @ [450, 150]), whose
 * columns are not whole 16s. graphrun's kernels now run them all. */
Test(threads, one_leaf_recurrences_train_the_same_parameters_at_every_thread_count) {
    static const struct {
        const char *op;
        int units, batch;
    } cases[] = {{"gru", 32, 32}, {"gru", 32, 20}, {"rnn", 32, 32}, {"rnn", 32, 20}, {"gru", 150, 20}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char sets[160], what[64];
        snprintf(sets, sizeof sets, "--set graph.lstm.op=%s --set graph.lstm.num_units=%d --set train.batch_size=%d",
                 cases[c].op, cases[c].units, cases[c].batch);
        snprintf(what, sizeof what, "%s of %d units, batch %d", cases[c].op, cases[c].units, cases[c].batch);
        expect_same_at_1_to_3_threads("tests", "short_mnist.yaml", sets, what);
    }
}

/* The same for a dense layer's input gradient at one leaf, dY W^T:
 * [32, 128] @ [64, 128]^T (spirals' h2 at 128 units) split over 2 threads
 * into two [32, 32] parts summed otherwise than the whole when OpenBLAS ran
 * it; so [100, 100] hidden layers over 3 threads. */
Test(threads, one_leaf_dense_layers_train_the_same_parameters_at_every_thread_count) {
    static const int widths[][2] = {{64, 128}, {100, 100}};
    for (int w = 0; w < 2; w++) {
        char sets[96], what[64];
        snprintf(sets, sizeof sets, "--set graph.h1.units=%d --set graph.h2.units=%d", widths[w][0], widths[w][1]);
        snprintf(what, sizeof what, "hidden layers of %d and %d units", widths[w][0], widths[w][1]);
        expect_same_at_1_to_3_threads("configs", "spirals_mlp.yaml", sets, what);
    }
}

Test(threads, the_default_follows_the_affinity_mask) {
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int allowed = CPU_COUNT(&set);
    cr_expect_leq(gr_cpu_count(), allowed);
    pin_to_one_cpu();
    cr_expect_eq(gr_cpu_count(), 1, "pinned to one CPU, the default is one thread");
}

Test(threads, the_command_pinned_to_one_cpu_chooses_one_thread) {
    char *out = NULL;
    int st = tg_sh(&out, "taskset -c 0 %s/graphrun train %s/tests/short_mnist.yaml --set train.threads=0 --set train.steps=1 "
                   "--no-run-dir 2>&1", GR_BUILD_DIR, GR_SOURCE_DIR);
    cr_assert_eq(st, 0, "%s", out);
    cr_expect(strstr(out, "seed 0, 1 thread\n"), "taskset -c 0 gives one thread: %s", out);
    free(out);
    /* --threads 0 is the same default */
    st = tg_sh(&out, "taskset -c 0 %s/graphrun train %s/tests/short_mnist.yaml --threads 0 --set train.steps=1 "
               "--no-run-dir 2>&1", GR_BUILD_DIR, GR_SOURCE_DIR);
    cr_assert_eq(st, 0, "%s", out);
    cr_expect(strstr(out, "seed 0, 1 thread\n"), "taskset -c 0 --threads 0 gives one thread: %s", out);
    free(out);
}

/* ---- cgroup quotas, on a made-up cgroup tree ------------------------------ */

static char root[64];

static void put(const char *rel, const char *text) {
    char path[512], cmd[600];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    cr_assert_eq(system(cmd), 0);
    FILE *f = fopen(path, "w");
    cr_assert(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static void tree_setup(void) { tg_tmpdir(root, sizeof root, "cgroup"); }
static void tree_teardown(void) { tg_rmtree(root); }

Test(threads, cgroup_v2_quotas_round_up_and_the_tightest_ancestor_wins, .init = tree_setup, .fini = tree_teardown) {
    cr_expect_eq(gr_cgroup_cpus("0::/\n", root), 0, "no files: no quota");
    put("cpu.max", "max 100000\n");
    cr_expect_eq(gr_cgroup_cpus("0::/\n", root), 0, "'max' is no quota");
    put("cpu.max", "150000 100000\n");
    cr_expect_eq(gr_cgroup_cpus("0::/\n", root), 2, "1.5 CPUs round up to 2");
    put("a/b/cpu.max", "300000 100000\n");
    cr_expect_eq(gr_cgroup_cpus("0::/a/b\n", root), 2, "the parent's 1.5 is tighter than 3");
    put("a/cpu.max", "50000 100000\n");
    cr_expect_eq(gr_cgroup_cpus("0::/a/b\n", root), 1, "half a CPU is one thread");
    /* a host path seen from inside a container: only the root exists */
    cr_expect_eq(gr_cgroup_cpus("0::/docker/0123abcd\n", root), 2);
}

Test(threads, cgroup_v1_and_hybrid_quotas, .init = tree_setup, .fini = tree_teardown) {
    const char *v1 = "12:pids:/x\n4:cpu,cpuacct:/x\n1:name=systemd:/x\n0::/x\n";
    cr_expect_eq(gr_cgroup_cpus(v1, root), 0);
    put("cpu,cpuacct/x/cpu.cfs_quota_us", "-1\n");
    put("cpu,cpuacct/x/cpu.cfs_period_us", "100000\n");
    cr_expect_eq(gr_cgroup_cpus(v1, root), 0, "-1 is no quota");
    put("cpu,cpuacct/x/cpu.cfs_quota_us", "250000\n");
    cr_expect_eq(gr_cgroup_cpus(v1, root), 3, "2.5 CPUs round up to 3");
    put("cpu/cpu.cfs_quota_us", "100000\n");
    put("cpu/cpu.cfs_period_us", "100000\n");
    cr_expect_eq(gr_cgroup_cpus(v1, root), 1, "the cpu mount's root holds a tighter quota");
    /* hybrid: v2 mounted at unified/ beside the v1 controllers */
    put("unified/cpu.max", "50000 100000\n");
    cr_expect_eq(gr_cgroup_cpus("0::/\n", root), 1);
    cr_expect_eq(gr_cgroup_cpus("garbage\n::\n7\n", root), 0, "unreadable lines are skipped");
}

/* ---- BLAS kernels ---------------------------------------------------------- */

Test(threads, graphrun_runs_the_blas_kernels_this_cpu_supports) {
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl");
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!avx512 && !avx2) cr_skip_test("this CPU has neither AVX-512 nor AVX2 with FMA: generic kernels are its best");
    char *out = NULL;
    /* without the variable, as a user runs it */
    cr_assert_eq(tg_sh(&out, "env -u OPENBLAS_CORETYPE %s/graphrun --version", GR_BUILD_DIR), 0, "%s", out);
    const char *k = strstr(out, "(kernels for ");
    cr_assert(k, "--version names the BLAS kernels: %s", out);
    char core[64] = "";
    sscanf(k + strlen("(kernels for "), "%63[^)]", core);
    static const char *const avx2_cores[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"};
    int ok = 0;
    for (size_t i = 0; i < sizeof avx2_cores / sizeof avx2_cores[0]; i++) ok |= strcmp(core, avx2_cores[i]) == 0;
    cr_expect(ok, "a CPU with %s runs OpenBLAS's '%s' kernels, not AVX2 or AVX-512 ones", avx512 ? "AVX-512" : "AVX2",
              core);
    free(out);
    /* a user's own choice stands */
    cr_assert_eq(tg_sh(&out, "OPENBLAS_CORETYPE=Sandybridge %s/graphrun --version", GR_BUILD_DIR), 0, "%s", out);
    cr_expect(strstr(out, "(kernels for Sandybridge)"), "OPENBLAS_CORETYPE set by the user is kept: %s", out);
    free(out);
}
