/* One conv2d layer's forward and backward, timed: the figure to hold
 * against tools/bench/torch_conv.py on the same machine.
 *
 *   conv_bench B H W C F K [--threads N] [--reps R] [--no-dx]
 *
 * A 'same'-padded K x K convolution of x[B, H, W, C] to F channels, run
 * through the op harness (the kernels a plan runs, on buffers of their own).
 * Prints the median of R forward+backward passes in milliseconds, wall and
 * process CPU time, after two warm-up passes; --no-dx drops the input's
 * gradient, as for a first layer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef CLOCK_PROCESS_CPUTIME_ID
#define CLOCK_PROCESS_CPUTIME_ID 2
#endif

#include "models/builder.h"
#include "runtime/base/ctx.h"
#include "runtime/host/host.h"
#include "runtime/engine/graph.h"
#include "runtime/engine/harness.h"
#include "runtime/yaml/yaml.h"

static double now(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: conv_bench B H W C F K [--threads N] [--reps R] [--no-dx]\n");
        return 2;
    }
    long b = atol(argv[1]), hgt = atol(argv[2]), wid = atol(argv[3]), c = atol(argv[4]), f = atol(argv[5]),
         k = atol(argv[6]);
    int threads = 2, reps = 20, no_dx = 0;
    for (int i = 7; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-dx")) no_dx = 1;
    }
    if (reps < 1 || reps > 1000) reps = 20;
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "- {name: x, op: input, data: images, shape: [%ld, %ld, %ld]}\n"
             "- {name: y, op: conv2d, inputs: [x], filters: %ld, kernel_size: [%ld], padding: same}\n",
             hgt, wid, c, f, k);
    struct gr_ctx ctx;
    struct gr_ydoc doc;
    struct gr_graph g;
    struct gr_harness h;
    if (gr_ctx_init(&ctx) || gr_ctx_set_threads(&ctx, threads)) {
        fprintf(stderr, "context: %s\n", ctx.err);
        return 1;
    }
    gr_graph_init(&g, &ctx, "bench");
    if (gr_yaml_parse(&ctx, &doc, "bench", yaml, strlen(yaml)) || gr_build_graph(&ctx, &g, "bench", doc.root, b) ||
        gr_harness_init(&h, &g, gr_graph_find(&g, "y"), 1)) {
        fprintf(stderr, "%s\n", ctx.err);
        return 1;
    }
    if (no_dx) h.args.din[0] = NULL;
    struct gr_rng rng;
    gr_rng_seed(&rng, 1);
    for (int i = 0; i < h.args.n_in; i++) {
        float *v = h.in[i].data;
        for (int64_t e = 0; e < gr_shape_count(&h.in[i].shape); e++) v[e] = gr_rng_uniform(&rng) - 0.5f;
    }
    float *dy = h.dout.data;
    for (int64_t e = 0; e < gr_shape_count(&h.dout.shape); e++) dy[e] = gr_rng_uniform(&rng) - 0.5f;
    double t[1000], cpu[1000];
    for (int r = -2; r < reps; r++) {
        double t0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        gr_harness_forward(&h);
        gr_harness_backward(&h);
        if (r >= 0) {
            t[r] = now(CLOCK_MONOTONIC) - t0;
            cpu[r] = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
        }
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp);
    qsort(cpu, (size_t)reps, sizeof cpu[0], cmp);
    printf("%.3f ms (cpu %.3f ms, fastest %.3f ms)\n", 1e3 * t[reps / 2], 1e3 * cpu[reps / 2], 1e3 * cpu[0]);
    gr_harness_free(&h);
    gr_graph_free(&g);
    gr_yaml_free(&doc);
    gr_ctx_free(&ctx);
    return 0;
}
