/* The collectives of runtime/dist/dist.h over MPI; compiled only when CMake
 * finds MPI (GRAPHRUN_MPI). */
#ifndef GR_DIST_MPI_H
#define GR_DIST_MPI_H

#include <stddef.h>

struct gr_dist;

/* MPI_Init_thread (funneled: only the thread that opened it calls MPI; the
 * pool's workers never do), a duplicate of MPI_COMM_WORLD that returns
 * errors, and the ranks on this host. */
int gr_dist_mpi_open(struct gr_dist *d, char *err, size_t len);

#endif
