/* The machine's fp32 peak and the products a training step makes, timed on
 * one thread: OpenBLAS, graphrun's kernels (runtime/host/gemm.c) and, when
 * the build found it, libxsmm's JIT kernels. Not a test: it prints GFLOP/s
 * (and with --json one line of them for tools/bench/bench.py).
 *
 * The peak is measured, not looked up: 24 independent chains of 16-float
 * fused multiply-adds (enough to cover the FMA latency on two ports), timed
 * by the thread's CPU time so that time spent descheduled on a shared
 * machine does not count, times the CPUs this process may use. A large
 * OpenBLAS product (2048^3) is printed beside it as what a real kernel
 * reaches.
 *
 *   build/gemm_bench [--json] [--tn] [--cold]
 * --tn: only the A^T @ B products; --cold: operands out of the L2 cache */
#define _GNU_SOURCE
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/host/gemm.h"
#include "runtime/host/threads.h"

#if defined(GR_HAVE_LIBXSMM)
#include <libxsmm.h>
#endif
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *values(size_t n, unsigned seed) {
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!p) exit(1);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (float)((seed >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
    return p;
}

/* GFLOP/s of one core's fused multiply-adds, best of 5 */
static double fma_peak(void) {
#if defined(__AVX512F__)
    enum { CHAINS = 24, ITERS = 2000000 };
    double best = 0;
    for (int round = 0; round < 5; round++) {
        __m512 acc[CHAINS];
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
        __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
        double t0 = cpu_seconds();
        for (int i = 0; i < ITERS; i++) {
            _Pragma("GCC unroll 24") for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], x, y);
        }
        double dt = cpu_seconds() - t0;
        float sink = 0;
        for (int c = 0; c < CHAINS; c++) sink += _mm512_reduce_add_ps(acc[c]);
        if (sink == 12345.0f) printf("%g\n", (double)sink); /* keeps the loop */
        double g = 2.0 * 16 * CHAINS * (double)ITERS / dt / 1e9;
        if (g > best) best = g;
    }
    return best;
#else
    return 0;
#endif
}

enum { OPENBLAS, GRAPHRUN, LIBXSMM, N_IMPL };
static const char *impl_name[N_IMPL] = {"openblas", "graphrun", "libxsmm"};

/* C[m, n] (+)= A[m, k] @ B[k, n], or A^T @ B with A [k, m] when tn */
struct shape {
    const char *what;
    int m, n, k, add, tn;
};

static int run_once(int impl, const struct shape *s, const float *a, const float *b, float *c, void *xsmm) {
    int lda = s->tn ? s->m : s->k;
    if (impl == OPENBLAS) {
        cblas_sgemm(CblasRowMajor, s->tn ? CblasTrans : CblasNoTrans, CblasNoTrans, s->m, s->n, s->k, 1.0f, a, lda, b,
                    s->n, s->add ? 1.0f : 0.0f, c, s->n);
        return 0;
    }
    if (impl == GRAPHRUN) {
        if (s->tn)
            gr_gemm_tn(s->m, s->n, s->k, a, lda, b, s->n, c, s->n, s->add);
        else
            gr_gemm_direct(s->m, s->n, s->k, a, lda, b, s->n, c, s->n, s->add);
        return 0;
    }
#if defined(GR_HAVE_LIBXSMM)
    if (xsmm) { /* column-major: C^T = B^T A^T */
        ((libxsmm_smmfunction)xsmm)(b, a, c);
        return 0;
    }
#endif
    (void)xsmm;
    return -1;
}

static void *xsmm_kernel(const struct shape *s) {
#if defined(GR_HAVE_LIBXSMM)
    if (s->tn) return NULL;
    float beta = s->add ? 1.0f : 0.0f;
    libxsmm_blasint m = s->n, n = s->m, k = s->k, lda = s->n, ldb = s->k, ldc = s->n;
    libxsmm_smmfunction f = libxsmm_smmdispatch(m, n, k, &lda, &ldb, &ldc, NULL, &beta, NULL, NULL);
    return f ? (void *)f : NULL;
#else
    (void)s;
    return NULL;
#endif
}

/* GFLOP/s, best of 5 rounds of about 0.1 s; 0 when the kernel is missing.
 * With `cold`, the reps take their operands in turn from copies that
 * together fill COLD_BYTES, more than a core's L2 cache: in a training step
 * a weight gradient's operands were written long before, not by the
 * previous call. */
#define COLD_BYTES (16u << 20)
#define MAX_SETS 64
static double time_shape(int impl, const struct shape *s, int cold) {
    size_t na = (size_t)s->m * (size_t)s->k, nb = (size_t)s->k * (size_t)s->n, nc = (size_t)s->m * (size_t)s->n;
    size_t sets = cold ? COLD_BYTES / ((na + nb) * sizeof(float)) + 1 : 1;
    if (sets > MAX_SETS) sets = MAX_SETS;
    float *a[MAX_SETS], *b[MAX_SETS], *c = values(nc, 3);
    for (size_t i = 0; i < sets; i++) a[i] = values(na, 1 + 2 * (unsigned)i), b[i] = values(nb, 2 + 2 * (unsigned)i);
    void *xsmm = impl == LIBXSMM ? xsmm_kernel(s) : NULL;
    double flop = 2.0 * s->m * s->n * s->k, best = 0;
    int reps = (int)(2e8 / flop) + 1;
    if (impl == LIBXSMM && !xsmm) reps = 0;
    for (int round = 0; round < 5 && reps; round++) {
        double t0 = cpu_seconds();
        for (int r = 0; r < reps; r++)
            if (run_once(impl, s, a[(size_t)r % sets], b[(size_t)r % sets], c, xsmm)) reps = 0;
        double dt = cpu_seconds() - t0;
        if (reps && flop * reps / dt / 1e9 > best) best = flop * reps / dt / 1e9;
    }
    for (size_t i = 0; i < sets; i++) free(a[i]), free(b[i]);
    free(c);
    return best;
}

static double big_sgemm(void) {
    int n = 2048;
    float *a = values((size_t)n * n, 1), *b = values((size_t)n * n, 2), *c = values((size_t)n * n, 3);
    double best = 0;
    for (int round = 0; round < 3; round++) {
        double t0 = cpu_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double g = 2.0 * n * n * n / (cpu_seconds() - t0) / 1e9;
        if (g > best) best = g;
    }
    free(a), free(b), free(c);
    return best;
}

int main(int argc, char **argv) {
    int json = 0, tn_only = 0, cold = 0;
    for (int i = 1; i < argc; i++) {
        json |= strcmp(argv[i], "--json") == 0;
        tn_only |= strcmp(argv[i], "--tn") == 0;
        cold |= strcmp(argv[i], "--cold") == 0;
    }
    openblas_set_num_threads(1);
#if defined(GR_HAVE_LIBXSMM)
    libxsmm_init();
#endif
    /* the reference LSTM (B 64 in blocks of 32, T 28, I 28, H 64) and wider ones */
    static const struct shape shapes[] = {
        {"lstm 64 step forward", 32, 256, 64, 1, 0},     {"lstm 64 step backward", 32, 64, 256, 0, 0},
        {"lstm 64 input projection", 1792, 256, 28, 0, 0}, {"lstm 64 kernel gradient", 92, 256, 1792, 1, 1},
        {"lstm 32 step forward", 32, 128, 32, 1, 0},     {"lstm 128 step forward", 32, 512, 128, 1, 0},
        {"lstm 128 step backward", 32, 128, 512, 0, 0},  {"lstm 256 step forward", 32, 1024, 256, 1, 0},
        {"lstm 128 kernel gradient", 156, 512, 1792, 1, 1},
        /* A^T @ B as the LSTM's weight gradient runs it, one leaf of 32 samples
         * (k = 28 * 32) at 64, 128, 256 and 28 + 64 units, and the CNN's */
        {"lstm 64 leaf gradient", 92, 256, 896, 1, 1},   {"lstm 128 leaf gradient", 156, 512, 896, 1, 1},
        {"lstm 256 leaf gradient", 284, 1024, 896, 1, 1}, {"lstm 64 leaf, k 300", 92, 256, 300, 0, 1},
        {"tn odd edges", 37, 80, 449, 1, 1},              {"cnn hidden gradient", 3136, 128, 32, 1, 1},
        {"cnn conv2 gradient", 288, 64, 392, 1, 1},       {"cnn logits gradient", 128, 10, 64, 1, 1},
    };
    int n_shapes = (int)(sizeof shapes / sizeof *shapes), cpus = gr_cpu_count();
    double peak = fma_peak(), big = big_sgemm();
    if (!json) {
        printf("OpenBLAS %s; %d CPUs; libxsmm %s\n", openblas_get_config(), cpus,
#if defined(GR_HAVE_LIBXSMM)
               "linked"
#else
               "not found at build time"
#endif
        );
        printf("fp32 peak: %.1f GFLOP/s a core (FMA throughput, CPU time), %.1f for %d; OpenBLAS 2048^3: %.1f a core\n",
               peak, peak * cpus, cpus, big);
        printf("%-26s %18s %10s %10s %10s\n", "product (GFLOP/s, 1 thread)", "m x n x k", "openblas", "graphrun",
               "libxsmm");
    } else {
        printf("{\"cpus\": %d, \"peak_core_gflops\": %.2f, \"peak_gflops\": %.2f, \"openblas_2048_gflops\": %.2f, "
               "\"products\": [",
               cpus, peak, peak * cpus, big);
    }
    for (int i = 0, first_row = 1; i < n_shapes; i++) {
        const struct shape *s = &shapes[i];
        if (tn_only && !s->tn) continue;
        double g[N_IMPL];
        for (int impl = 0; impl < N_IMPL; impl++) g[impl] = time_shape(impl, s, cold);
        char dims[48];
        snprintf(dims, sizeof dims, "%d x %d x %d%s", s->m, s->n, s->k, s->tn ? " (A^T)" : "");
        if (!json)
            printf("%-26s %18s %10.1f %10.1f %10.1f\n", s->what, dims, g[0], g[1], g[2]);
        else
            printf("%s{\"what\": \"%s\", \"m\": %d, \"n\": %d, \"k\": %d, \"transposed_a\": %d, \"%s\": %.2f, "
                   "\"%s\": %.2f, \"%s\": %.2f}",
                   first_row ? "" : ", ", s->what, s->m, s->n, s->k, s->tn, impl_name[0], g[0], impl_name[1], g[1],
                   impl_name[2], g[2]);
        first_row = 0;
    }
    if (json) printf("]}\n");
    return 0;
}
