/* How long the dataset readers take, side by side:
 *
 *     bench_readers IDX_IMAGES NPY_IMAGES CSV [ROUNDS]
 *
 * IDX_IMAGES and NPY_IMAGES hold the same images (tools/make_npy_mnist.py);
 * CSV is a table with a header and a column named `label` (tools/bench/
 * readers.sh writes all three from MNIST). Each round reads every file
 * once, from the page cache after the first round; the median of ROUNDS
 * (default 5) is printed for each reader, with its ratio to IDX's, as
 * wall time and as the process's CPU time (steadier on a shared machine). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "runtime/base/ctx.h"
#include "runtime/host/host.h"
#include "runtime/data/reader.h"

static int cpu_clock; /* set once by main: which clock now() reads */

static double now(void) {
    struct timespec t;
    clock_gettime(cpu_clock ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(struct gr_ctx *ctx) {
    fprintf(stderr, "bench_readers: %s\n", ctx->err);
    exit(1);
}

/* Open, allocate every array once and read them all in one call; the time
 * of the open (the csv reader's checking pass) in *open_time. */
static double time_reader(struct gr_ctx *ctx, const char *path, const char *format, const struct gr_read_opts *o,
                          double *open_time) {
    double t0 = now();
    struct gr_source s;
    if (gr_source_open(ctx, &s, path, format, o)) die(ctx);
    *open_time = now() - t0;
    void *dst[8] = {0};
    for (int k = 0; k < s.n_arrays && k < 8; k++)
        if (!(dst[k] = gr_alloc(ctx, gr_array_bytes(&s.arrays[k])))) die(ctx);
    if (gr_source_read_all(ctx, &s, dst)) die(ctx);
    double t = now() - t0;
    for (int k = 0; k < 8; k++) gr_free(ctx, dst[k]);
    gr_source_close(ctx, &s);
    return t;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, by_value);
    return v[n / 2];
}

enum { IDX, NPY, CSV_OPEN, CSV, N_TIMES };

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_readers IDX_IMAGES NPY_IMAGES CSV [ROUNDS]\n");
        return 2;
    }
    int rounds = argc > 4 ? atoi(argv[4]) : 5;
    if (rounds < 1 || rounds > 100) rounds = 5;
    struct gr_ctx ctx;
    if (gr_ctx_init(&ctx)) die(&ctx);
    struct gr_column label = {"label", 0};
    struct gr_read_opts csv = {.label = &label};
    double t[2][N_TIMES][100], unused;
    for (int r = 0; r < rounds; r++) {
        for (cpu_clock = 0; cpu_clock < 2; cpu_clock++) {
            double(*c)[100] = t[cpu_clock];
            c[IDX][r] = time_reader(&ctx, argv[1], "idx", NULL, &unused);
            c[NPY][r] = time_reader(&ctx, argv[2], NULL, NULL, &unused);
            c[CSV][r] = time_reader(&ctx, argv[3], "csv", &csv, &c[CSV_OPEN][r]);
        }
    }
    const char *names[N_TIMES] = {"IDX, idx reader", "npy reader",
                                  "csv reader: open (checking pass)", "csv reader: open and read"};
    double base[2] = {median(t[0][IDX], rounds), median(t[1][IDX], rounds)};
    printf("median of %d rounds          wall time               CPU time\n", rounds);
    for (int i = 0; i < N_TIMES; i++) {
        printf("  %-34s", names[i]);
        for (int k = 0; k < 2; k++) {
            double m = median(t[k][i], rounds);
            printf(" %8.4f s %7.2fx", m, m / base[k]);
        }
        printf("\n");
    }
    gr_ctx_free(&ctx);
    return 0;
}
