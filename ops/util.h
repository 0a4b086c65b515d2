/* Helpers shared by the built-in ops. They use only graphrun/plugin.h, so a
 * plugin could copy them; nothing here reaches into the runtime. */
#ifndef GR_OPS_UTIL_H
#define GR_OPS_UTIL_H

#include "graphrun/plugin.h"

/* Resolve a possibly negative axis against `rank`; -1 if out of range. */
static inline int gr_axis(int64_t axis, int rank) {
    if (axis < 0) axis += rank;
    return (axis < 0 || axis >= rank) ? -1 : (int)axis;
}

/* Numpy broadcasting of a and b (aligned at their last axes) into out.
 * Returns -1 if some axis pair is neither equal nor 1. */
int gr_broadcast_shape(const struct gr_shape *a, const struct gr_shape *b, struct gr_shape *out);

/* Walk `out` (contiguous) in rows along its last axis, giving each row's
 * pointers into a and b with their strides along that axis (0 where the axis
 * is broadcast). `fn` decides which pointers it reads and which it writes. */
typedef void (*gr_row_fn)(void *u, int64_t n, float *a, int64_t sa, float *b, int64_t sb, float *c);
void gr_broadcast_rows(const struct gr_shape *as, const struct gr_shape *bs, const struct gr_shape *cs, float *a,
                       float *b, float *c, gr_row_fn fn, void *u);

/* fn(arg, begin, end) over [0, n): on the host's threads when n is large
 * enough to pay for the hand-off (elementwise work split into contiguous
 * ranges, so the result is the same either way), else right here. */
#define GR_PARALLEL_MIN 32768
static inline void gr_for_range(const struct gr_args *a, int64_t n, void (*fn)(void *arg, int64_t b, int64_t e),
                                void *arg) {
    if (n >= GR_PARALLEL_MIN) a->host->parallel_for(a->host_ctx, n, fn, arg);
    else fn(arg, 0, n);
}

#endif
