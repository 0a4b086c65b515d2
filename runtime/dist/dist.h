/* The ranks of a data-parallel job, behind a small table of collectives so
 * that nothing above this layer names MPI. A job of one process has no
 * table (ops NULL, size 1) and takes none of these paths: `graphrun train`
 * without mpirun runs exactly as it would in a build without MPI.
 *
 *   gr_dist_open     one process, or, under a launcher (mpirun sets
 *                    OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK), MPI's
 *                    ranks (runtime/dist/mpi.c, built when CMake finds MPI)
 *   sum_f32/f64      in place: every rank's x[0..n) becomes the sum over
 *                    the ranks (MPI_Allreduce with MPI_IN_PLACE)
 *   bcast            rank `root`'s bytes onto every rank
 *   min_pair         the smallest (key, rank) over the ranks (MPI_MINLOC)
 *   gr_dist_agree    after a step that can fail on some ranks only: every
 *                    rank learns whether any failed, and takes the message
 *                    of the first failure, "rank R: ..." (ranks whose
 *                    failure is their own come before those that failed
 *                    because of another's)
 *
 * Collectives return 0, or -1 with "rank R: MPI_Allreduce: REASON" in
 * err (communicators return errors, MPI_ERRORS_RETURN, instead of
 * aborting); after such an error the job cannot agree on anything, and
 * the command ends it (gr_dist_abort). */
#ifndef GR_DIST_H
#define GR_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/dist/ranks.h"

/* One process, or MPI's ranks when launched by mpirun; 0, or -1 with the
 * reason in err (launched by mpirun, but built without MPI: then on rank 0
 * only, err empty on the others). */
int gr_dist_open(struct gr_dist *d, char *err, size_t len);
void gr_dist_close(struct gr_dist *d);
/* End every rank of the job now, with exit status `code` (a job that can no
 * longer agree; never returns under MPI, does nothing for one process). */
void gr_dist_abort(struct gr_dist *d, int code);

static inline int gr_dist_rank(const struct gr_dist *d) { return d ? d->rank : 0; }
static inline int gr_dist_size(const struct gr_dist *d) { return d && d->ops ? d->size : 1; }

int gr_dist_sum_f32(const struct gr_dist *d, float *x, int64_t n, char *err, size_t len);
int gr_dist_sum_f64(const struct gr_dist *d, double *x, int64_t n, char *err, size_t len);
int gr_dist_bcast(const struct gr_dist *d, void *x, size_t bytes, int root, char *err, size_t len);

/* How a rank stands at an agreement: its own failure comes first. */
enum gr_dist_status {
    GR_DIST_FAILED = 0,    /* failed, for a reason of its own */
    GR_DIST_FOLLOWED = 1,  /* failed because another rank did (same bad values) */
    GR_DIST_OK = 2,
};
/* 0 when no rank failed; else -1 on every rank, each holding in err (len
 * bytes, err's message on the failing ranks) the first failure's message,
 * led by "rank R: ". One process: -1 when it failed, err untouched. */
int gr_dist_agree(const struct gr_dist *d, enum gr_dist_status st, char *err, size_t len);

#endif
