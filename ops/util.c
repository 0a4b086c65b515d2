#include "util.h"

int gr_broadcast_shape(const struct gr_shape *a, const struct gr_shape *b, struct gr_shape *out) {
    int r = a->rank > b->rank ? a->rank : b->rank;
    out->rank = r;
    for (int i = 0; i < r; i++) {
        int ia = a->rank - r + i, ib = b->rank - r + i;
        int64_t da = ia >= 0 ? a->dim[ia] : 1;
        int64_t db = ib >= 0 ? b->dim[ib] : 1;
        if (da != db && da != 1 && db != 1) return -1;
        out->dim[i] = da == 1 ? db : da;
    }
    return 0;
}

/* Strides of `s` seen through the broadcast to `c` (0 on broadcast axes). */
static void strides(const struct gr_shape *s, const struct gr_shape *c, int64_t *st) {
    int64_t acc = 1;
    for (int i = c->rank - 1; i >= 0; i--) {
        int is = s->rank - c->rank + i;
        int64_t d = is >= 0 ? s->dim[is] : 1;
        st[i] = d == 1 ? 0 : acc;
        acc *= d;
    }
}

void gr_broadcast_rows(const struct gr_shape *as, const struct gr_shape *bs, const struct gr_shape *cs, float *a,
                       float *b, float *c, gr_row_fn fn, void *u) {
    int64_t sa[GR_MAX_DIMS], sb[GR_MAX_DIMS], idx[GR_MAX_DIMS] = {0};
    strides(as, cs, sa);
    strides(bs, cs, sb);
    int r = cs->rank;
    if (r == 0) {
        fn(u, 1, a, 0, b, 0, c);
        return;
    }
    int64_t n = cs->dim[r - 1];
    int64_t rows = 1;
    for (int i = 0; i < r - 1; i++) rows *= cs->dim[i];
    int64_t oa = 0, ob = 0;
    for (int64_t row = 0; row < rows; row++) {
        fn(u, n, a + oa, sa[r - 1], b + ob, sb[r - 1], c + row * n);
        /* odometer over the outer axes */
        for (int i = r - 2; i >= 0; i--) {
            idx[i]++;
            oa += sa[i];
            ob += sb[i];
            if (idx[i] < cs->dim[i]) break;
            oa -= sa[i] * idx[i];
            ob -= sb[i] * idx[i];
            idx[i] = 0;
        }
    }
}
