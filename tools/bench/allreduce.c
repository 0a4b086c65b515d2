/* One in-place MPI_Allreduce (sum) of N floats, as a training step makes
 * over its gradient block, timed R times after a barrier each (so that
 * waiting for a late rank is not counted); prints the median and the
 * bandwidth it implies for a ring, 2 (P - 1) / P x bytes / time.
 *
 *   mpirun -np P bench_allreduce N [R]          (tools/bench/mpi.py allreduce) */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long n = argc > 1 ? atol(argv[1]) : 24458;
    int reps = argc > 2 ? atoi(argv[2]) : 100;
    float *x = calloc((size_t)n, sizeof *x);
    double *t = calloc((size_t)reps, sizeof *t);
    if (!x || !t || n < 1 || n > 1 << 30 || reps < 1) MPI_Abort(MPI_COMM_WORLD, 2);
    for (int r = 0; r < reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t[r] = MPI_Wtime() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, by_value);
    double med = t[reps / 2], bytes = 4.0 * (double)n;
    if (rank == 0)
        printf("%d ranks, %ld floats (%.2f MB): median %.3f ms, ring bandwidth %.2f GB/s\n", size, n, bytes / 1e6,
               1e3 * med, 2.0 * (size - 1) / size * bytes / med / 1e9);
    free(x);
    free(t);
    MPI_Finalize();
    return 0;
}
