/* The lstm op's steps: lstm_cell_forward, the cell update of one row, and
 * blocks of samples through all T steps, step by step or fused.
 *
 * Fused: for each step, each 16 units and each tile of up to 6 rows, the
 * 6 x 4 vectors of z (the four gates of those units) are summed in 24
 * registers, first x_t @ Wx, set aside in L1, then h_{t-1} @ Wh from zero
 * and added to it, then the gates and the cell update run on the
 * registers; evaluation stores only c and h, training also the activated
 * gates and tanh(c) into its state, and h into the next step's xh row.
 *
 * Units outside rows: each 16 units' columns of Wx and Wh (4 gates x 16
 * columns x (I + H) rows, 23.5 KB at I = 28, H = 64) stay in L1 while all
 * tiles of the block take them, and per k, 4 loads of W and 6 broadcasts of
 * x or h feed 24 FMAs, so the two FMA ports bound the products.
 *
 * Step by step (the host's products into z, then lstm_cell_forward row by
 * row), z made a round trip through memory between two products and the
 * gate loop, and 32-row blocks left 2-row tiles; the fused steps run the
 * same operations on the same values in the same order. */
#include "lstm_cell.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "fastmath.h"
#include "gemm_order.h"

/* a k up to this is summed in one chain from zero, as here */
#define ONE_BLOCK GR_GEMM_ONE_BLOCK

void lstm_cell_forward(int64_t H, float *z, const float *bias, float fb, const float *cprev, float *c, float *tc,
                       float *h, int keep) {
    int64_t j = 0;
#ifdef GR_HAVE_V16
    for (; j + 16 <= H; j += 16) {
        __m512 ig = gr_sigmoid16(_mm512_add_ps(_mm512_loadu_ps(z + j), _mm512_loadu_ps(bias + j)));
        __m512 fg = gr_sigmoid16(_mm512_add_ps(_mm512_add_ps(_mm512_loadu_ps(z + H + j), _mm512_loadu_ps(bias + H + j)),
                                               _mm512_set1_ps(fb)));
        __m512 gg = gr_tanh16(_mm512_add_ps(_mm512_loadu_ps(z + 2 * H + j), _mm512_loadu_ps(bias + 2 * H + j)));
        __m512 og = gr_sigmoid16(_mm512_add_ps(_mm512_loadu_ps(z + 3 * H + j), _mm512_loadu_ps(bias + 3 * H + j)));
        __m512 cv = _mm512_fmadd_ps(fg, _mm512_loadu_ps(cprev + j), _mm512_mul_ps(ig, gg));
        __m512 t = gr_tanh16(cv);
        _mm512_storeu_ps(c + j, cv);
        _mm512_storeu_ps(h + j, _mm512_mul_ps(og, t));
        if (keep) {
            _mm512_storeu_ps(z + j, ig);
            _mm512_storeu_ps(z + H + j, fg);
            _mm512_storeu_ps(z + 2 * H + j, gg);
            _mm512_storeu_ps(z + 3 * H + j, og);
            _mm512_storeu_ps(tc + j, t);
        }
    }
#endif
    for (; j < H; j++) {
        float ig = gr_sigmoid(z[j] + bias[j]);
        float fg = gr_sigmoid(z[H + j] + bias[H + j] + fb);
        float gg = gr_tanh(z[2 * H + j] + bias[2 * H + j]);
        float og = gr_sigmoid(z[3 * H + j] + bias[3 * H + j]);
        float cv = ig * gg + fg * cprev[j];
        float t = gr_tanh(cv);
        c[j] = cv;
        h[j] = og * t;
        if (keep) {
            z[j] = ig;
            z[H + j] = fg;
            z[2 * H + j] = gg;
            z[3 * H + j] = og;
            tc[j] = t;
        }
    }
}

/* the fused steps' tiles of rows, and the tiles that take each 16 units'
 * weights in turn, at most */
#define ROWS LSTM_CELL_ROWS
#define TILES 6

/* xh rows of samples [r0, r1) of the leaf [lo, lo + n): x at step s's
 * time now, the first step's h = 0 now, later the previous step's h as
 * the steps run */
static void fill_xh(const struct lstm_cell *e, int64_t lo, int64_t n, int64_t r0, int64_t r1) {
    int64_t T = e->T, I = e->I, XH = e->I + e->H;
    for (int64_t b = r0; b < r1; b++) {
        for (int64_t t = 0; t < T; t++)
            memcpy(e->xh + (T * lo + t * n + b - lo) * XH, e->x + (b * T + lstm_time_of(T, e->reverse, t)) * I,
                   (size_t)I * sizeof(float));
        memset(e->xh + (T * lo + b - lo) * XH + I, 0, (size_t)e->H * sizeof(float));
    }
}

/* Training step by step for the leaf [b0, b1): z_t = x_t @ Wx, then z_t +=
 * h_{t-1} @ Wh (the same sums as one product over all steps first, but z
 * never leaves the cache: at batch 256 all steps' z is 7 MB, beyond a
 * core's L2), then the cell row by row. */
static void step_rows(const struct lstm_cell *e, int64_t b0, int64_t b1) {
    int64_t T = e->T, I = e->I, H = e->H, G = 4 * H, XH = I + H, n = b1 - b0;
    for (int64_t t = 0; t < T; t++) {
        int64_t r0 = T * b0 + t * n; /* this step's rows */
        e->host->sgemm(e->host_ctx, GR_NO_TRANS, GR_NO_TRANS, n, G, I, 1.0f, e->xh + r0 * XH, XH, e->w, G, 0.0f,
                       e->z + r0 * G, G);
        if (t > 0)
            e->host->sgemm(e->host_ctx, GR_NO_TRANS, GR_NO_TRANS, n, G, H, 1.0f, e->xh + r0 * XH + I, XH, e->w + I * G,
                           G, 1.0f, e->z + r0 * G, G);
        for (int64_t b = b0; b < b1; b++) {
            int64_t r = r0 + b - b0;
            const float *cprev = t > 0 ? e->c + (r - n) * H : e->zeros;
            float *h = e->y + (b * T + lstm_time_of(T, e->reverse, t)) * H;
            lstm_cell_forward(H, e->z + r * G, e->bias, e->fb, cprev, e->c + r * H, e->tc + r * H, h, 1);
            if (t + 1 < T) memcpy(e->xh + (r + n) * XH + I, h, (size_t)H * sizeof(float));
        }
    }
}

static void fused_rows(const struct lstm_cell *e, int64_t b0, int64_t b1, int64_t lo, int64_t n);
static void fence_streams(void);

void lstm_cell_train_rows(const struct lstm_cell *e, int64_t b0, int64_t b1) {
    if (e->wp) {
        lstm_cell_train_part(e, b0, b1, b0, b1);
        return;
    }
    fill_xh(e, b0, b1 - b0, b0, b1);
    step_rows(e, b0, b1);
}

void lstm_cell_train_part(const struct lstm_cell *e, int64_t lo, int64_t hi, int64_t r0, int64_t r1) {
    fill_xh(e, lo, hi - lo, r0, r1);
    for (int64_t r = r0; r < r1; r += TILES * ROWS) fused_rows(e, r, r1 - r < TILES * ROWS ? r1 : r + TILES * ROWS, lo, hi - lo);
    fence_streams();
}

void lstm_cell_eval_rows(const struct lstm_cell *e, int64_t b0, int64_t b1) {
    for (int64_t r = b0; r < b1; r++)
        for (int64_t k = 0; k < e->H; k++) e->c[r * e->H + k] = 0.0f;
    for (int64_t r = b0; r < b1; r += TILES * ROWS) fused_rows(e, r, b1 - r < TILES * ROWS ? b1 : r + TILES * ROWS, 0, 0);
}

#ifdef GR_HAVE_V16

/* any I and H, H a multiple of 16: x_t @ Wx and h_{t-1} @ Wh run in the
 * host's blocks of k (products) */
int lstm_cell_fits(int64_t in, int64_t h) { return h % 16 == 0 && in >= 1; }

#define INLINE static inline __attribute__((always_inline))

/* z[i][g] = sum over q of a_i[q] * w[q][g], an FMA chain from zero in q
 * order (w the tile's 16 units, packed), stored, or with `add` added to z
 * as the host adds a product into C ((h @ Wh) + (x @ Wx)). With a list qs,
 * only its k values of q (the others' terms are zeros, see fused_rows). */
INLINE void chain(int R, float z[ROWS][4][16], const float *const *a, const int32_t *qs, int64_t k, const float *w,
                  int add) {
    __m512 acc[ROWS][4];
    _Pragma("GCC unroll 8") for (int i = 0; i < R; i++)
        _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) acc[i][g] = _mm512_setzero_ps();
    _Pragma("GCC unroll 4") for (int64_t n = 0; n < k; n++) {
        int64_t q = qs ? qs[n] : n;
        __m512 bv[4];
        _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) bv[g] = _mm512_loadu_ps(w + 64 * q + 16 * g);
        _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {
            __m512 av = _mm512_set1_ps(a[i][q]);
            _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) acc[i][g] = _mm512_fmadd_ps(av, bv[g], acc[i][g]);
        }
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++)
        _mm512_store_ps(z[i][g], add ? _mm512_add_ps(acc[i][g], _mm512_load_ps(z[i][g])) : acc[i][g]);
}

/* one function per row count, dense and listed, so that the 24
 * accumulators have the registers to themselves (inlined beside the gates,
 * whose constants the compiler hoists, they spilled) */
typedef void chain_fn(float z[ROWS][4][16], const float *const *a, const int32_t *qs, int64_t k, const float *w,
                      int add);
#define CHAIN(R)                                                                                                   \
    static __attribute__((noinline)) void chain##R(float z[ROWS][4][16], const float *const *a, const int32_t *qs, \
                                                   int64_t k, const float *w, int add) {                           \
        (void)qs;                                                                                                  \
        chain(R, z, a, NULL, k, w, add);                                                                           \
    }                                                                                                              \
    static __attribute__((noinline)) void listed##R(float z[ROWS][4][16], const float *const *a, const int32_t *qs, \
                                                    int64_t k, const float *w, int add) {                          \
        chain(R, z, a, qs, k, w, add);                                                                             \
    }
CHAIN(1) CHAIN(2) CHAIN(3) CHAIN(4) CHAIN(5) CHAIN(6)
static chain_fn *const dense[ROWS + 1] = {NULL, chain1, chain2, chain3, chain4, chain5, chain6};
static chain_fn *const listed[ROWS + 1] = {NULL, listed1, listed2, listed3, listed4, listed5, listed6};

void lstm_cell_chain(int R, float z[LSTM_CELL_ROWS][4][16], const float *const *a, int64_t k, const float *w,
                     int add) {
    dense[R](z, a, NULL, k, w, add);
}

/* z (+)= a @ w over k in the host's blocks (ops/gemm_order.h): each block
 * a chain from zero, added in turn, the first stored unless `add`; one
 * block where k <= ONE_BLOCK. w packed [k][64]. */
static void products(int R, float z[ROWS][4][16], const float *const *a, int64_t k, const float *w, int add) {
    if (k <= ONE_BLOCK) {
        dense[R](z, a, NULL, k, w, add);
        return;
    }
    const float *ab[ROWS];
    for (int64_t ls = 0, len; ls < k; ls += len) {
        len = gr_gemm_k_block(k, ls);
        for (int i = 0; i < R; i++) ab[i] = a[i] + ls;
        dense[R](z, ab, NULL, len, w + 64 * ls, add || ls > 0);
    }
}

/* A tile's rows at one step, the same for all its units (u added where
 * used): x_t and h_{t-1} (h NULL at the first step), c_{t-1} and c_t (the
 * same row in evaluation), the output y; training's state rows, NULL in
 * evaluation: the activated gates [4H], tanh(c), and the next step's xh
 * row that takes h (NULL at the last step). qs and nq: the columns of x_t
 * where some row is nonzero, when skip_zeros. */
struct rows {
    int R;
    int stream; /* training: the gates and tanh(c) go past the caches (lstm_cell_streams_gates) */
    const float *x[ROWS], *h[ROWS], *cp[ROWS];
    float *c[ROWS], *y[ROWS], *z[ROWS], *tc[ROWS], *hn[ROWS];
    int64_t nq;
    int32_t qs[ONE_BLOCK + 16];
};

/* The q at which some row of the tile has x_t != 0 (NaN counts), in
 * order, into qs (room for I + 16); returns how many. Compressed 16 at a
 * time: a loop over the set bits mispredicted its branch. */
static int64_t nonzero_columns(int R, const float *const *a, int64_t I, int32_t *qs) {
    int64_t n = 0;
    for (int64_t q0 = 0; q0 < I; q0 += 16) {
        __mmask16 in = (__mmask16)(I - q0 >= 16 ? 0xffffu : (1u << (I - q0)) - 1), any = 0;
        for (int i = 0; i < R; i++)
            any |= _mm512_mask_cmp_ps_mask(in, _mm512_maskz_loadu_ps(in, a[i] + q0), _mm512_setzero_ps(), _CMP_NEQ_UQ);
        __m512i q = _mm512_add_epi32(_mm512_set1_epi32((int)q0),
                                     _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
        _mm512_storeu_si512(qs + n, _mm512_maskz_compress_epi32(any, q));
        n += __builtin_popcount(any);
    }
    return n;
}

/* fastmath.h's gr_sigmoid16 of v[k], or gr_tanh16 where bit k of `tanh` is
 * set, n of them side by side (operation for operation, so the same bits) */
INLINE void activate_n(int n, __m512 *v, unsigned tanh) {
    const __m512 one = _mm512_set1_ps(1.0f);
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++)
        v[k] = tanh >> k & 1 ? _mm512_add_ps(v[k], v[k]) : _mm512_sub_ps(_mm512_setzero_ps(), v[k]);
    gr_exp16_n(n, v);
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++)
        v[k] = gr_rcp16(tanh >> k & 1 ? _mm512_add_ps(v[k], one) : _mm512_add_ps(one, v[k]));
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++)
        if (tanh >> k & 1) v[k] = _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), v[k], one);
}

/* m rows' gates and c (as lstm_cell_forward: i, f, g, o, then c = f c_{t-1}
 * + i g), the gates kept in training; z[i] leaves holding o and c in its
 * first two vectors. Rows i0.. of the tile, units u.. */
INLINE void gate_rows(int m, float z[][4][16], const float *bias, int64_t H, __m512 fb, const struct rows *r, int i0,
                      int64_t u) {
    __m512 v[8];
    _Pragma("GCC unroll 2") for (int i = 0; i < m; i++) _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) {
        v[4 * i + g] = _mm512_add_ps(_mm512_load_ps(z[i][g]), _mm512_loadu_ps(bias + g * H));
        if (g == 1) v[4 * i + g] = _mm512_add_ps(v[4 * i + g], fb);
    }
    activate_n(4 * m, v, 0x4444); /* g, the third of each row's four */
    _Pragma("GCC unroll 2") for (int i = 0; i < m; i++) {
        if (r->stream)
            _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) _mm512_stream_ps(r->z[i0 + i] + g * H + u, v[4 * i + g]);
        else if (r->z[i0 + i])
            _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) _mm512_storeu_ps(r->z[i0 + i] + g * H + u, v[4 * i + g]);
        __m512 cv = _mm512_fmadd_ps(v[4 * i + 1], _mm512_loadu_ps(r->cp[i0 + i] + u), _mm512_mul_ps(v[4 * i], v[4 * i + 2]));
        _mm512_storeu_ps(r->c[i0 + i] + u, cv);
        _mm512_store_ps(z[i][0], v[4 * i + 3]);
        _mm512_store_ps(z[i][1], cv);
    }
}

/* h = o * tanh(c) for m rows (tanh(c) kept in training), into y and the
 * next step's xh row */
INLINE void h_rows(int m, float z[][4][16], const struct rows *r, int i0, int64_t u) {
    __m512 v[4];
    _Pragma("GCC unroll 4") for (int i = 0; i < m; i++) v[i] = _mm512_load_ps(z[i][1]);
    activate_n(m, v, 0xf);
    _Pragma("GCC unroll 4") for (int i = 0; i < m; i++) {
        __m512 h = _mm512_mul_ps(_mm512_load_ps(z[i][0]), v[i]);
        _mm512_storeu_ps(r->y[i0 + i] + u, h);
        if (r->stream)
            _mm512_stream_ps(r->tc[i0 + i] + u, v[i]);
        else if (r->tc[i0 + i])
            _mm512_storeu_ps(r->tc[i0 + i] + u, v[i]);
        if (r->hn[i0 + i]) _mm512_storeu_ps(r->hn[i0 + i] + u, h);
    }
}

/* lstm_cell_forward on the tile's 16 units, in two passes over its rows,
 * two rows' gates side by side, then h = o * tanh(c) four rows at a time: a
 * row at a time, its chains of dependent operations left the FMA ports
 * waiting on latency. */
static inline void gates(float z[ROWS][4][16], const float *bias, int64_t H, float fb, const struct rows *r, int64_t u) {
    const __m512 fbv = _mm512_set1_ps(fb);
    int i = 0, R = r->R;
    for (; i + 2 <= R; i += 2) gate_rows(2, z + i, bias, H, fbv, r, i, u);
    if (i < R) gate_rows(1, z + i, bias, H, fbv, r, i, u);
    for (i = 0; i + 4 <= R; i += 4) h_rows(4, z + i, r, i, u);
    switch (R - i) {
        case 3: h_rows(3, z + i, r, i, u); break;
        case 2: h_rows(2, z + i, r, i, u); break;
        case 1: h_rows(1, z + i, r, i, u); break;
        default: break;
    }
}

/* The tile's rows r at one step, units [u, u + 16). */
static void tile(const struct lstm_cell *e, const struct rows *r, int64_t u) {
    const int64_t I = e->I, H = e->H;
    const float *w = e->wp + u * 4 * (I + H); /* [I + H][4][16] */
    float z[ROWS][4][16] __attribute__((aligned(64)));
    /* where the state streams, c_{t-1} (a line a row here) went to L3
     * while the step's 1 MB of kernel passed through L2; its loads in the
     * gates were a fifth of their time. Fetched now, the tile's products
     * hide the wait. */
    if (r->stream)
        for (int i = 0; i < r->R; i++) _mm_prefetch((const char *)(r->cp[i] + u), _MM_HINT_T0);
    if (e->skip_zeros) {
        listed[r->R](z, r->x, r->qs, r->nq, w, 0);
    } else {
        products(r->R, z, r->x, I, w, 0);
    }
    if (r->h[0]) products(r->R, z, r->h, H, w + 64 * I, 1);
    gates(z, e->bias + u, H, e->fb, r, u);
}

/* Evaluation's rows: samples [b, b + R) at processing step s, x and y as
 * the tensors lie (T rows apart), c in place. */
static void eval_tile_rows(const struct lstm_cell *e, struct rows *r, int64_t b, int64_t s) {
    const int64_t T = e->T, I = e->I, H = e->H;
    const int64_t tt = lstm_time_of(T, e->reverse, s), tp = e->reverse ? tt + 1 : tt - 1;
    const float *x = e->x + (b * T + tt) * I, *h = e->y + (b * T + tp) * H;
    float *c = e->c + b * H, *y = e->y + (b * T + tt) * H;
    for (int i = 0; i < r->R; i++, x += T * I, h += T * H, c += H, y += T * H) {
        r->x[i] = x, r->h[i] = s > 0 ? h : NULL, r->cp[i] = c, r->c[i] = c, r->y[i] = y;
        r->z[i] = NULL, r->tc[i] = NULL, r->hn[i] = NULL;
    }
    r->stream = 0;
}

/* Whether a leaf of n samples writes its activated gates and tanh(c) with
 * streaming stores, past the caches (lstm_cell.h): where its gates are
 * more than twice a core's L2 (lstm_cell_state_past_l2), the lines a step
 * writes were long gone from the caches (the previous step's backward read
 * them), and each store first read its line from memory while the gates
 * waited; streamed, they skip that read and backward reads them from
 * memory once. Measured in paired rounds: the gates at 256 units (3.7 MB a
 * leaf of 32) 1.008-1.023x at batch 64 and 1.015-1.041x at batch 256;
 * tanh(c) too (0.9 MB), a further 1.011-1.024x; 128 units (1.8 MB)
 * streamed 0.99-1.005x, tanh(c) alone 0.99x; 64 units (0.9 MB, which the
 * caches keep for backward) streamed 0.92-0.94x, so below 2 MB they store
 * as before. z's and tc's rows must lie on 64-byte lines (they do when z
 * and tc do: rows of 4H and H floats, H a multiple of 16). c is stored as
 * before: the next step reads it. */
int lstm_cell_streams_gates(const struct lstm_cell *e, int64_t n) {
    return lstm_cell_state_past_l2(e->T, n, e->H) && (uintptr_t)e->z % 64 == 0 && (uintptr_t)e->tc % 64 == 0;
}

/* the streamed gates in memory before the leaf's job ends and another
 * thread may run its backward */
static void fence_streams(void) { _mm_sfence(); }

/* Training's rows: samples [b, b + R) of the leaf [lo, lo + n) at
 * processing step s, in the state (lstm_cell.h). */
static void train_tile_rows(const struct lstm_cell *e, struct rows *r, int64_t lo, int64_t n, int64_t b, int64_t s) {
    const int64_t T = e->T, I = e->I, H = e->H, XH = I + H, tt = lstm_time_of(T, e->reverse, s);
    int64_t row = T * lo + s * n + b - lo;
    float *y = e->y + (b * T + tt) * H;
    r->stream = lstm_cell_streams_gates(e, n);
    for (int i = 0; i < r->R; i++, row++, y += T * H) {
        float *xh = e->xh + row * XH;
        r->x[i] = xh, r->h[i] = s > 0 ? xh + I : NULL, r->cp[i] = s > 0 ? e->c + (row - n) * H : e->zeros;
        r->c[i] = e->c + row * H, r->y[i] = y, r->z[i] = e->z + row * 4 * H, r->tc[i] = e->tc + row * H;
        r->hn[i] = s + 1 < T ? xh + n * XH + I : NULL;
    }
}

/* skip_zeros: x's zeros may be left out of x_t @ Wx where Wx is finite
 * (fused_rows) and x_t @ Wx is one block of k (its list of columns, qs,
 * has room for one) */
void lstm_cell_check_zeros(struct lstm_cell *e) {
    int finite = 1;
    if (e->I <= ONE_BLOCK)
        for (int64_t k = 0; k < e->I * 4 * e->H; k++) finite &= isfinite(e->w[k]) != 0;
    e->skip_zeros = finite && e->I <= ONE_BLOCK;
}

/* Each 16 units' columns side by side, [H / 16][I + H][4 gates][16]: in
 * the kernel's own layout one unit's 4 gates lie 4H floats apart and its
 * rows 16H apart, so a slice's lines fall in a quarter of L1's sets (at
 * H = 64) and did not stay there. */
void lstm_cell_pack(struct lstm_cell *e) {
    int64_t rows = e->I + e->H, G = 4 * e->H;
    lstm_cell_check_zeros(e);
    for (int64_t u = 0; u < e->H; u += 16)
        for (int64_t q = 0; q < rows; q++)
            for (int g = 0; g < 4; g++)
                memcpy(e->wp + (u * rows + q * 16) * 4 + g * 16, e->w + q * G + g * e->H + u, 16 * sizeof(float));
}

/* Rows [b0, b1) (at most TILES * ROWS; training's of the leaf [lo, lo +
 * n)) through all steps, in tiles as even as they go (lstm_cell.h), the
 * same sums in any tiling.
 *
 * x's zeros: a term 0 * w (w finite) is a zero, and adding a zero to a
 * chain leaves it as it was, but for the sign of a zero sum (-0 + 0 = +0),
 * which the gates do not see (z + bias, and exp(-0) = exp(+0)). So where no
 * row of a tile has x_t[q] != 0, step q of the chain x_t @ Wx is left out
 * and the bits stay those of the whole product: MNIST's digits leave 58%
 * of q out over 6 rows (a whole blank image row, 17% of them). */
static void fused_rows(const struct lstm_cell *e, int64_t b0, int64_t b1, int64_t lo, int64_t n) {
    struct rows r[TILES];
    const int64_t m = b1 - b0, nt = lstm_cell_tiles(m);
    for (int64_t s = 0; s < e->T; s++) {
        for (int64_t k = 0, b = b0; k < nt; b += r[k].R, k++) {
            r[k].R = lstm_cell_tile_rows(m, k);
            if (e->xh) {
                train_tile_rows(e, &r[k], lo, n, b, s);
            } else {
                eval_tile_rows(e, &r[k], b, s);
            }
            if (e->skip_zeros) r[k].nq = nonzero_columns(r[k].R, r[k].x, e->I, r[k].qs);
        }
        for (int64_t u = 0; u < e->H; u += 16)
            for (int64_t k = 0; k < nt; k++) tile(e, &r[k], u);
    }
}

#else

void lstm_cell_chain(int R, float z[LSTM_CELL_ROWS][4][16], const float *const *a, int64_t k, const float *w,
                     int add) {
    (void)R, (void)z, (void)a, (void)k, (void)w, (void)add;
}

int lstm_cell_fits(int64_t in, int64_t h) {
    (void)in, (void)h;
    return 0;
}

void lstm_cell_check_zeros(struct lstm_cell *e) { e->skip_zeros = 0; }

void lstm_cell_pack(struct lstm_cell *e) { (void)e; }

static void fused_rows(const struct lstm_cell *e, int64_t b0, int64_t b1, int64_t lo, int64_t n) {
    (void)e, (void)b0, (void)b1, (void)lo, (void)n;
}

static void fence_streams(void) {}

int lstm_cell_streams_gates(const struct lstm_cell *e, int64_t n) {
    (void)e, (void)n;
    return 0;
}

#endif
