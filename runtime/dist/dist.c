#include "runtime/dist/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef GR_HAVE_MPI
#include "runtime/dist/mpi.h"
#endif

/* The job's size as the launcher says: Open MPI's mpirun, or a PMI/PMIx
 * launcher (srun, hydra); 0: not launched as part of a job. */
static int launched_size(void) {
    const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const char *v = getenv(names[k]);
        if (v && *v) return atoi(v) > 0 ? atoi(v) : 1;
    }
    return getenv("PMIX_RANK") ? 1 : 0;
}

int gr_dist_open(struct gr_dist *d, char *err, size_t len) {
    memset(d, 0, sizeof *d);
    d->size = d->local_size = 1;
    int size = launched_size();
    if (size == 0) return 0;
#ifdef GR_HAVE_MPI
    return gr_dist_mpi_open(d, err, len);
#else
    if (size == 1) return 0;
    /* every rank fails; the first alone says why */
    const char *rank = getenv("OMPI_COMM_WORLD_RANK") ? getenv("OMPI_COMM_WORLD_RANK") : getenv("PMI_RANK");
    if (rank && atoi(rank) != 0) {
        snprintf(err, len, "%s", "");
        return -1;
    }
    snprintf(err, len,
             "graphrun: launched as one of %d ranks, but this graphrun was built without MPI "
             "(install Open MPI's development files, libopenmpi-dev, and build again)",
             size);
    return -1;
#endif
}

void gr_dist_close(struct gr_dist *d) {
    if (d->ops) d->ops->close(d->impl);
    memset(d, 0, sizeof *d);
}

void gr_dist_abort(struct gr_dist *d, int code) {
    if (d->ops) d->ops->abort(d->impl, code);
}

int gr_dist_sum_f32(const struct gr_dist *d, float *x, int64_t n, char *err, size_t len) {
    return gr_dist_size(d) > 1 ? d->ops->sum_f32(d->impl, x, n, err, len) : 0;
}

int gr_dist_sum_f64(const struct gr_dist *d, double *x, int64_t n, char *err, size_t len) {
    return gr_dist_size(d) > 1 ? d->ops->sum_f64(d->impl, x, n, err, len) : 0;
}

int gr_dist_bcast(const struct gr_dist *d, void *x, size_t bytes, int root, char *err, size_t len) {
    return gr_dist_size(d) > 1 ? d->ops->bcast(d->impl, x, bytes, root, err, len) : 0;
}

int gr_dist_agree(const struct gr_dist *d, enum gr_dist_status st, char *err, size_t len) {
    if (gr_dist_size(d) == 1) return st == GR_DIST_OK ? 0 : -1;
    int key, root;
    /* a message that fits whatever err holds on the root */
    char msg[1024];
    if (d->ops->min_pair(d->impl, (int)st, &key, &root, msg, sizeof msg)) {
        snprintf(err, len, "%s", msg);
        return -1;
    }
    if (key == GR_DIST_OK) return 0;
    if (d->rank == root) snprintf(msg, sizeof msg, "%s", err);
    if (d->ops->bcast(d->impl, msg, sizeof msg, root, err, len)) return -1;
    msg[sizeof msg - 1] = 0;
    snprintf(err, len, "rank %d: %.1000s", root, msg);
    return -1;
}
