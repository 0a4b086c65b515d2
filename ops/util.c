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

static int64_t half(int64_t lo, int64_t hi) { return lo + (hi - lo) / 2; }

/* Level by level: a level's ranges hold a or a + 1 samples (halving keeps
 * them within one of each other), ca and cb of them. */
int64_t gr_sum_leaves(int64_t n) {
    int64_t a = n, ca = 1, cb = 0, leaves = 0;
    for (;;) {
        if (a <= GR_SUM_LEAF) leaves += ca, ca = 0;
        if (a + 1 <= GR_SUM_LEAF) leaves += cb, cb = 0;
        if (ca + cb == 0) return leaves;
        int64_t h = a / 2, na = 0, nb = 0;
        /* a splits into h and a - h; a + 1 into (a + 1) / 2 and the rest */
        int64_t kids[4] = {h, a - h, (a + 1) / 2, a + 1 - (a + 1) / 2}, cnt[4] = {ca, ca, cb, cb};
        for (int i = 0; i < 4; i++) *(kids[i] == h ? &na : &nb) += cnt[i];
        a = h, ca = na, cb = nb;
    }
}

/* Down the tree to leaf k, counting the leaves of each left half. */
void gr_sum_leaf(int64_t n, int64_t k, int64_t *lo, int64_t *hi) {
    int64_t a = 0, b = n;
    while (b - a > GR_SUM_LEAF) {
        int64_t m = half(a, b), left = gr_sum_leaves(m - a);
        if (k < left) {
            b = m;
        } else {
            k -= left;
            a = m;
        }
    }
    *lo = a;
    *hi = b;
}

struct tree_job {
    int64_t n, len;
    float *first, *rest;
};

/* Elements [e0, e1) of the samples [lo, hi)'s sum, into the part of that
 * range's first leaf (numbered from *next); returns that leaf. */
static int64_t combine(const struct tree_job *t, int64_t lo, int64_t hi, int64_t *next, int64_t e0, int64_t e1) {
    if (hi - lo <= GR_SUM_LEAF) return (*next)++;
    int64_t m = half(lo, hi);
    int64_t l = combine(t, lo, m, next, e0, e1), r = combine(t, m, hi, next, e0, e1);
    float *x = gr_sum_part(t->first, t->rest, t->len, l);
    const float *y = gr_sum_part(t->first, t->rest, t->len, r);
    for (int64_t e = e0; e < e1; e++) x[e] += y[e];
    return l;
}

static void combine_range(void *arg, int64_t e0, int64_t e1) {
    const struct tree_job *t = arg;
    int64_t next = 0;
    combine(t, 0, t->n, &next, e0, e1);
}

void gr_sum_tree(const struct gr_args *a, int64_t n, float *first, float *rest, int64_t len) {
    if (n <= GR_SUM_LEAF) return;
    struct tree_job t = {n, len, first, rest};
    gr_for_range(a, len, combine_range, &t);
}

struct rows_job {
    const float *m;
    float *dst;
    int64_t ld, r0, r1;
    int onto;
};

/* columns c0..c1, 64 at a time held in a local array (registers) */
static void sum_cols(void *arg, int64_t c0, int64_t c1) {
    const struct rows_job *j = arg;
    for (int64_t c = c0; c < c1; c += 64) {
        int64_t w = c1 - c < 64 ? c1 - c : 64;
        float acc[64];
        for (int64_t k = 0; k < w; k++) acc[k] = j->onto ? j->dst[c + k] : 0.0f;
        for (int64_t r = j->r0; r < j->r1; r++) {
            const float *row = j->m + r * j->ld + c;
            for (int64_t k = 0; k < w; k++) acc[k] += row[k];
        }
        for (int64_t k = 0; k < w; k++) j->dst[c + k] = acc[k];
    }
}

void gr_sum_rows(const struct gr_args *a, const float *m, int64_t ld, int64_t r0, int64_t r1, float *dst,
                 int64_t cols, int onto) {
    struct rows_job j = {m, dst, ld, r0, r1, onto};
    if ((r1 - r0) * cols >= GR_PARALLEL_MIN && cols >= 128) a->host->parallel_for(a->host_ctx, cols, sum_cols, &j);
    else sum_cols(&j, 0, cols);
}

#if defined(__AVX512F__)
#include <immintrin.h>

/* A whole 16 x 16 tile in registers: rows of 2 into 4-float groups
 * (unpack), groups of 4 rows per 128-bit lane (shuffle), then lanes across
 * the 16 rows (two lane shuffles). Row c = 4j + m of the result is lane j
 * of u[m], u[4 + m], u[8 + m] and u[12 + m], where u[4i + m]'s lane j holds
 * column 4j + m of rows 4i..4i+3. */
static void transpose16(const float *src, int64_t ls, float *dst, int64_t ld) {
    __m512 r[16], t[16], u[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * ls);
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int m = 0; m < 4; m++) {
        __m512 a = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88), b = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xdd);
        __m512 c = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88), d = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xdd);
        _mm512_storeu_ps(dst + m * ld, _mm512_shuffle_f32x4(a, c, 0x88));
        _mm512_storeu_ps(dst + (4 + m) * ld, _mm512_shuffle_f32x4(b, d, 0x88));
        _mm512_storeu_ps(dst + (8 + m) * ld, _mm512_shuffle_f32x4(a, c, 0xdd));
        _mm512_storeu_ps(dst + (12 + m) * ld, _mm512_shuffle_f32x4(b, d, 0xdd));
    }
}
#endif

void gr_transpose(const float *src, int64_t rows, int64_t cols, float *dst) {
    enum { TILE = 16 };
    for (int64_t r0 = 0; r0 < rows; r0 += TILE)
        for (int64_t c0 = 0; c0 < cols; c0 += TILE) {
            int64_t r1 = r0 + TILE < rows ? r0 + TILE : rows, c1 = c0 + TILE < cols ? c0 + TILE : cols;
#if defined(__AVX512F__)
            if (r1 - r0 == TILE && c1 - c0 == TILE) {
                transpose16(src + r0 * cols + c0, cols, dst + c0 * rows + r0, rows);
                continue;
            }
#endif
            for (int64_t c = c0; c < c1; c++)
                for (int64_t r = r0; r < r1; r++) dst[c * rows + r] = src[r * cols + c];
        }
}

void gr_transpose_slices64(const float *src, int64_t rows, int64_t cols, float *dst) {
    for (int64_t s = 0; s < rows; s += 64) {
        if (s + 64 <= rows) {
            gr_transpose(src + s * cols, 64, cols, dst + s * cols);
            continue;
        }
        for (int64_t q = 0; q < cols; q++)
            for (int64_t l = 0; l < 64; l++) dst[s * cols + q * 64 + l] = s + l < rows ? src[(s + l) * cols + q] : 0.0f;
    }
}
