#include "runtime/dist/mpi.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/dist/ranks.h"

/* What the table's functions reach through their impl pointer: the job's
 * communicator, a duplicate of MPI_COMM_WORLD (so that errors return to us
 * rather than abort, without changing the world's handler), and our rank
 * for messages. Freed by close; nothing here outlives MPI_Finalize. */
struct mpi_job {
    MPI_Comm comm;
    int rank;
};

static int failed(const struct mpi_job *j, int rc, const char *what, char *err, size_t len) {
    char reason[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(rc, reason, &n) != MPI_SUCCESS) snprintf(reason, sizeof reason, "error %d", rc);
    snprintf(err, len, "rank %d: %s: %s", j->rank, what, reason);
    return -1;
}

/* In pieces of at most INT_MAX elements, MPI's count type. */
static int sum(void *impl, void *x, int64_t n, MPI_Datatype t, size_t size, char *err, size_t len) {
    struct mpi_job *j = impl;
    for (int64_t at = 0; at < n;) {
        int count = n - at > INT_MAX ? INT_MAX : (int)(n - at);
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)x + (size_t)at * size, count, t, MPI_SUM, j->comm);
        if (rc != MPI_SUCCESS) return failed(j, rc, "MPI_Allreduce", err, len);
        at += count;
    }
    return 0;
}

static int sum_f32(void *impl, float *x, int64_t n, char *err, size_t len) {
    return sum(impl, x, n, MPI_FLOAT, sizeof *x, err, len);
}

static int sum_f64(void *impl, double *x, int64_t n, char *err, size_t len) {
    return sum(impl, x, n, MPI_DOUBLE, sizeof *x, err, len);
}

static int bcast(void *impl, void *x, size_t bytes, int root, char *err, size_t len) {
    struct mpi_job *j = impl;
    for (size_t at = 0; at < bytes;) {
        int count = bytes - at > INT_MAX ? INT_MAX : (int)(bytes - at);
        int rc = MPI_Bcast((char *)x + at, count, MPI_BYTE, root, j->comm);
        if (rc != MPI_SUCCESS) return failed(j, rc, "MPI_Bcast", err, len);
        at += (size_t)count;
    }
    return 0;
}

static int min_pair(void *impl, int key, int *min_key, int *min_rank, char *err, size_t len) {
    struct mpi_job *j = impl;
    struct {
        int key, rank;
    } in = {key, j->rank}, out;
    int rc = MPI_Allreduce(&in, &out, 1, MPI_2INT, MPI_MINLOC, j->comm);
    if (rc != MPI_SUCCESS) return failed(j, rc, "MPI_Allreduce", err, len);
    *min_key = out.key;
    *min_rank = out.rank;
    return 0;
}

static void job_abort(void *impl, int code) {
    struct mpi_job *j = impl;
    MPI_Abort(j->comm, code);
}

static void job_close(void *impl) {
    struct mpi_job *j = impl;
    MPI_Comm_free(&j->comm);
    free(j);
    MPI_Finalize();
}

static const struct gr_dist_ops mpi_ops = {sum_f32, sum_f64, bcast, min_pair, job_abort, job_close};

int gr_dist_mpi_open(struct gr_dist *d, char *err, size_t len) {
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        snprintf(err, len, "graphrun: MPI_Init_thread failed");
        return -1;
    }
    struct mpi_job *j = calloc(1, sizeof *j);
    MPI_Comm local;
    if (!j || MPI_Comm_dup(MPI_COMM_WORLD, &j->comm) != MPI_SUCCESS) {
        snprintf(err, len, "graphrun: could not set up MPI's communicator");
        free(j);
        MPI_Finalize();
        return -1;
    }
    MPI_Comm_set_errhandler(j->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(j->comm, &j->rank);
    MPI_Comm_size(j->comm, &d->size);
    d->rank = j->rank;
    /* the ranks sharing this host's memory: the cores are theirs to divide */
    if (MPI_Comm_split_type(j->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
        MPI_Comm_size(local, &d->local_size);
        MPI_Comm_free(&local);
    }
    d->ops = &mpi_ops;
    d->impl = j;
    return 0;
}
