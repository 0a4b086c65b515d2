/* A job's ranks and the table of collectives behind them (runtime/dist/dist.h
 * says what each does); its own header so that an implementation
 * (runtime/dist/mpi.c) needs nothing else of the layer. */
#ifndef GR_DIST_RANKS_H
#define GR_DIST_RANKS_H

#include <stddef.h>
#include <stdint.h>

struct gr_dist_ops {
    int (*sum_f32)(void *impl, float *x, int64_t n, char *err, size_t len);
    int (*sum_f64)(void *impl, double *x, int64_t n, char *err, size_t len);
    int (*bcast)(void *impl, void *x, size_t bytes, int root, char *err, size_t len);
    int (*min_pair)(void *impl, int key, int *min_key, int *min_rank, char *err, size_t len);
    void (*abort)(void *impl, int code);
    void (*close)(void *impl);
};

struct gr_dist {
    int rank, size;   /* this process's rank in the job, and the job's ranks */
    int local_size;   /* ranks on this host (MPI_COMM_TYPE_SHARED) */
    const struct gr_dist_ops *ops; /* NULL: one process */
    void *impl;
};

#endif
