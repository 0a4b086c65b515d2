/* lstm: a whole sequence through one LSTM layer, returning every step's
 * hidden state.  x[B, T, I] -> h[B, T, H], with h_{-1} = c_{-1} = 0.
 *
 *   z_t = x_t @ Wx + h_{t-1} @ Wh + bias          z_t: [B, 4H], gates in order i, f, g, o
 *   i = sigmoid(z_i)   f = sigmoid(z_f + forget_bias)   g = tanh(z_g)   o = sigmoid(z_o)
 *   c_t = f * c_{t-1} + i * g
 *   h_t = o * tanh(c_t)
 *
 * Parameters, as TensorFlow's LSTMCell makes them by default: one kernel
 * [I + H, 4H] (rows 0..I-1 are Wx, rows I..I+H-1 are Wh) drawn Glorot-uniform
 * over that whole shape, bias [4H] zeros, and forget_bias (default 1.0) added
 * to the forget gate's pre-activation so a fresh cell starts by remembering.
 *
 * Fused: samples never interact, so blocks of them run through all T steps
 * on the pool's threads without waiting for each other; a step is x_t @ Wx,
 * h_{t-1} @ Wh added to it, then the gates and the cell update in one pass.
 * Training runs the leaves of util.h's tree (at most 32 samples), each
 * leaf's state in one piece, step-major (leaf [lo, hi) of n samples: row
 * T lo + s n + (b - lo) for sample b at step s), rows [x_t, h_{t-1}]
 * ([T*B, I+H]), so a leaf's share of the kernel's gradient is one product,
 * XH_leaf^T dZ_leaf, added up the tree: the same bits however the batch is
 * split between ranks. Evaluation keeps nothing. The steps are ops/lstm_cell.c's, fused
 * where they fit.
 *
 * With `reverse: true` the layer reads the sequence from its last step to
 * its first (h_{t+1} feeds step t, h_T = c_T = 0) and still writes h_t at
 * position t: h_t has seen steps t..T-1, as the backward half of PyTorch's
 * bidirectional LSTM (Keras's go_backwards with return_sequences, its output
 * reversed again). The state below is kept in processing order, so only the
 * time index of x, y and dy changes.
 *
 * Backward through time (dh_T = dc_T = 0), for t = T-1 .. 0:
 *   dh   = dout_t + dh_next
 *   dc   = dc_next + dh * o * (1 - tanh(c_t)^2)
 *   dz_i = dc * g * i (1 - i)          dz_f = dc * c_{t-1} * f (1 - f)
 *   dz_g = dc * i * (1 - g^2)          dz_o = dh * tanh(c_t) * o (1 - o)
 *   dh_next = dz_t @ Wh^T,  dc_next = dc * f
 * then dW += [X, H_{t-1}]^T dZ, dbias += sum dZ, dx_t += dz_t @ Wx^T. */
#include <stdatomic.h>
#include <string.h>

#include "graphrun/plugin.h"
#include "lower.h"
#include "lstm_back.h"
#include "lstm_cell.h"
#include "recurrent.h"
#include "util.h"

enum { A_UNITS, A_FORGET_BIAS, A_REVERSE };
static const struct gr_attr_spec lstm_attrs[] = {
    [A_UNITS] = {"num_units", GR_ATTR_INT, "hidden units H", .min = 1, .max = 1 << 20},
    [A_FORGET_BIAS] = {"forget_bias", GR_ATTR_FLOAT, "added to the forget gate's pre-activation", .def = "1.0"},
    [A_REVERSE] = {"reverse", GR_ATTR_BOOL, "run from the last step to the first (h_t still at position t)",
                   .def = "false"},
};
enum { P_KERNEL, P_BIAS };
static const struct gr_param_spec lstm_params[] = {
    [P_KERNEL] = {"kernel", GR_INIT_GLOROT_UNIFORM, "[I + H, 4H]: Wx stacked over Wh, gate blocks i, f, g, o"},
    [P_BIAS] = {"bias", GR_INIT_ZEROS, "[4H]"},
};
enum { IN_X, IN_KERNEL, IN_BIAS };

/* Evaluation's step-by-step blocks are recurrent.h's REC_BLOCK rows
 * (training's leaves are as large): products of at most 32 rows take the
 * small-matrix path (8-18% faster than 64-128), fewer where that would
 * leave threads idle (rec_block_rows). */

/* Training state, leaf by leaf, step-major within a leaf (see above): */
struct lstm_state {
    float *xh;    /* [T*B, I+H] row (t, b) = [x_t, h_{t-1}] of sample b */
    float *z;     /* [T*B, 4H] activated gates */
    float *c;     /* [T*B, H] cell states */
    float *tc;    /* [T*B, H] tanh(c) */
    float *zeros; /* [H] c_{-1} */
};

static size_t state_floats(int64_t b, int64_t t, int64_t in, int64_t h) {
    return (size_t)(t * b * (in + h + 4 * h + 2 * h) + h);
}

static struct lstm_state state_at(float *base, int64_t b, int64_t t, int64_t in, int64_t h) {
    struct lstm_state s;
    s.xh = base;
    s.z = s.xh + t * b * (in + h);
    s.c = s.z + t * b * 4 * h;
    s.tc = s.c + t * b * h;
    s.zeros = s.tc + t * b * h;
    return s;
}

/* backward's scratch: dh_next and dc_next [B, H], dx [T*B, I] in the
 * state's row order, then the gradient's leaves after the first: [I+H, 4H]
 * kernels, then [4H] biases. dz [T*B, 4H] overwrites the gates as they are
 * read: apart, a leaf's state and dz (2.7 MB at 32 samples, 64 units)
 * overflowed the L2. */
static size_t grad_floats(int64_t b, int64_t t, int64_t in, int64_t h) {
    return (size_t)(2 * b * h + t * b * in + (gr_sum_leaves(b) - 1) * (in + h + 1) * 4 * h);
}

/* What training keeps after the state, derived from the weights alone and
 * so reused while they stay (gr_args.params_kept): forward's packed kernel
 * for the fused steps, [I + H, 4H], then backward's Wh^T, packed and as it
 * is where needed (lstm_back_wh_floats). */
static size_t kept_floats(int64_t in, int64_t h) {
    return (size_t)((lstm_cell_fits(in, h) ? (in + h) * 4 * h : 0) + lstm_back_wh_floats(h));
}

/* where they start: after the state, on a 64-byte line as the packs' loads want */
static size_t kept_at(int64_t b, int64_t t, int64_t in, int64_t h) { return (state_floats(b, t, in, h) + 15) / 16 * 16; }

/* evaluation's scratch: z [B, 4H], c [B, H] */
static size_t eval_floats(int64_t b, int64_t h) { return (size_t)(b * 5 * h); }

static int lstm_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    char s[96];
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    if (x->rank != 3)
        return gr_infer_fail(inf, -1, "input must be [batch, time, features], got %s", gr_shape_format(x, s, sizeof s));
    /* no product below can overflow: x's shape was checked (B*T*I <= 2^38)
     * and H <= 2^20, so the largest, T*B*(I + 7H), stays under 2^62; the
     * runtime then refuses shapes and state over 2^40 bytes */
    int64_t b = x->dim[0], t = x->dim[1], in = x->dim[2], h = inf->attrs[A_UNITS].i;
    inf->out = (struct gr_shape){3, {b, t, h}};
    inf->param[P_KERNEL] = (struct gr_shape){2, {in + h, 4 * h}};
    inf->param[P_BIAS] = (struct gr_shape){1, {4 * h}};
    if (inf->training) {
        inf->saved_bytes = (kept_at(b, t, in, h) + kept_floats(in, h)) * sizeof(float);
        inf->scratch_bytes = grad_floats(b, t, in, h) * sizeof(float);
    } else {
        inf->scratch_bytes = eval_floats(b, h) * sizeof(float);
    }
    return 0;
}

struct lstm_job {
    const struct gr_args *a;
    int64_t B, T, I, H, G, XH; /* XH = I + H, the row length of xh */
    int reverse;
    struct lstm_state s;
    const float *x, *w, *wh, *bias;
    float fb;
    float *y;
    float *dz, *dh_next, *dc_next, *wht, *dxt; /* backward */
    float *rest_k, *rest_b;                     /* the gradients' parts 1.. (util.h) */
    float *kept;                               /* training: kept_floats, after the state */
    float *ez, *ec;                            /* evaluation */
    const struct lstm_cell *ev;                /* the steps (ops/lstm_cell.c) */
    const struct lstm_back *bk;                /* and backward (ops/lstm_back.c) */
    _Atomic int64_t next_block;                /* the next block no thread has taken */
    int64_t parts;                             /* training: pieces a leaf's rows run in (leaf_parts) */
    int64_t rows;                              /* evaluation: a step-by-step block's (rec_block_rows) */
};

static struct lstm_job job_of(const struct gr_args *a) {
    const struct gr_shape *xs = &a->in[IN_X]->shape;
    struct lstm_job j;
    memset(&j, 0, sizeof j);
    j.a = a;
    j.B = xs->dim[0];
    j.T = xs->dim[1];
    j.I = xs->dim[2];
    j.H = a->out->shape.dim[2];
    j.G = 4 * j.H;
    j.XH = j.I + j.H;
    j.x = a->in[IN_X]->data;
    j.w = a->in[IN_KERNEL]->data;
    j.wh = j.w + j.I * j.G;
    j.bias = a->in[IN_BIAS]->data;
    j.fb = (float)a->attrs[A_FORGET_BIAS].f;
    j.reverse = a->attrs[A_REVERSE].i != 0;
    j.y = a->out->data;
    if (a->saved) {
        j.s = state_at(a->saved, j.B, j.T, j.I, j.H);
        j.kept = (float *)a->saved + kept_at(j.B, j.T, j.I, j.H);
    }
    return j;
}

static int64_t time_of(const struct lstm_job *j, int64_t s) { return lstm_time_of(j->T, j->reverse, s); }

/* Run fn over the samples of blocks no thread has taken yet, one block at a
 * time.  The pool hands each thread a fixed share of the blocks, but a
 * thread descheduled on a busy machine would then hold back its whole
 * share; taking blocks from a shared counter instead, the running threads
 * take what it has not started.  A block's rows are summed the same way
 * whichever thread runs it, so the results are the same bits. */
static void for_blocks(void *arg, void (*fn)(const struct lstm_job *j, int64_t b0, int64_t b1)) {
    struct lstm_job *j = arg;
    for (;;) {
        int64_t k = atomic_fetch_add(&j->next_block, 1);
        if (k * j->rows >= j->B) return;
        int64_t b0, b1;
        rec_block(j->B, j->rows, k, &b0, &b1);
        fn(j, b0, b1);
    }
}

/* The same for training, over the leaves k of the batch's tree. */
static void for_leaves(void *arg, void (*fn)(const struct lstm_job *j, int64_t k, int64_t b0, int64_t b1)) {
    struct lstm_job *j = arg;
    for (int64_t k; (k = atomic_fetch_add(&j->next_block, 1)) < gr_sum_leaves(j->B);) {
        int64_t b0, b1;
        gr_sum_leaf(j->B, k, &b0, &b1);
        fn(j, k, b0, b1);
    }
}

/* Training recurrence for the leaf [b0, b1), all T steps. */
static void forward_rows(const struct lstm_job *j, int64_t k, int64_t b0, int64_t b1) {
    (void)k;
    lstm_cell_train_rows(j->ev, b0, b1);
}

/* How many parts each leaf's rows run in (leaves x parts work items for
 * the threads to take): 1, unless
 * the leaves are fewer than the threads a parallel_for has here (batch 32,
 * one leaf, on 2 threads ran its whole recurrence on one) and the steps are
 * fused both ways, whose rows never meet and sum the same in any tiling
 * (lstm_cell_train_part, lstm_back_part), so the bits stay the leaf's; a
 * part keeps at least a tile of rows. */
static int64_t leaf_parts(const struct lstm_job *j, int fused) {
    const struct gr_host *h = j->a->host;
    int64_t leaves = gr_sum_leaves(j->B), threads = GR_HOST_HAS(h, threads) ? h->threads(j->a->host_ctx) : 1;
    if (!fused || threads <= leaves) return 1;
    int64_t parts = (threads + leaves - 1) / leaves, most = j->B / leaves / LSTM_CELL_ROWS;
    return parts < most ? parts : most > 1 ? most : 1;
}

/* Work item w, part w mod parts of leaf w / parts: the leaf's rows [lo, hi), the part's [r0, r1). */
static void part_rows(const struct lstm_job *j, int64_t w, int64_t *lo, int64_t *hi, int64_t *r0, int64_t *r1) {
    int64_t q = w % j->parts;
    gr_sum_leaf(j->B, w / j->parts, lo, hi);
    *r0 = *lo + (*hi - *lo) * q / j->parts;
    *r1 = *lo + (*hi - *lo) * (q + 1) / j->parts;
}

/* for_leaves over the parts: fn(j, the leaf's rows [lo, hi), the part's [r0, r1)) */
static void for_parts(void *arg, void (*fn)(const struct lstm_job *j, int64_t lo, int64_t hi, int64_t r0, int64_t r1)) {
    struct lstm_job *j = arg;
    for (int64_t w, lo, hi, r0, r1; (w = atomic_fetch_add(&j->next_block, 1)) < gr_sum_leaves(j->B) * j->parts;) {
        part_rows(j, w, &lo, &hi, &r0, &r1);
        fn(j, lo, hi, r0, r1);
    }
}

static void forward_part(const struct lstm_job *j, int64_t lo, int64_t hi, int64_t r0, int64_t r1) {
    lstm_cell_train_part(j->ev, lo, hi, r0, r1);
}

static void forward_parts(void *arg, int64_t k0, int64_t k1) { (void)k0, (void)k1, for_parts(arg, forward_part); }

/* Evaluation for samples b0..b1: the fused steps where they fit, else one
 * step at a time; nothing kept. */
static void eval_rows(const struct lstm_job *j, int64_t b0, int64_t b1) {
    const struct gr_args *a = j->a;
    int64_t T = j->T, I = j->I, H = j->H, G = j->G, n = b1 - b0;
    if (j->ev->wp) {
        lstm_cell_eval_rows(j->ev, b0, b1);
        return;
    }
    float *z = j->ez + b0 * G, *c = j->ec + b0 * H;
    memset(c, 0, (size_t)(n * H) * sizeof(float));
    for (int64_t t = 0; t < T; t++) {
        /* z = x_t @ Wx (+ h_prev @ Wh), reading x and h where they lie, T rows apart */
        int64_t tt = time_of(j, t);
        a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, n, G, I, 1.0f, j->x + (b0 * T + tt) * I, T * I, j->w, G,
                       0.0f, z, G);
        if (t > 0)
            a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, n, G, H, 1.0f, j->y + (b0 * T + time_of(j, t - 1)) * H,
                           T * H, j->wh, G, 1.0f, z, G);
        for (int64_t k = 0; k < n; k++)
            lstm_cell_forward(H, z + k * G, j->bias, j->fb, c + k * H, c + k * H, NULL, j->y + ((b0 + k) * T + tt) * H, 0);
    }
}

static void forward_blocks(void *arg, int64_t k0, int64_t k1) { (void)k0, (void)k1, for_leaves(arg, forward_rows); }
/* The fused kernel takes blocks of 36 samples, six whole tiles of 6 rows
 * (32 left a tile of 2 rows, at a third of the speed of 6), taken as
 * for_blocks takes them. */
#define LSTM_EVAL_BLOCK 36

static void eval_blocks(void *arg, int64_t k0, int64_t k1) {
    (void)k0, (void)k1;
    struct lstm_job *j = arg;
    if (!j->ev->wp) {
        for_blocks(arg, eval_rows);
        return;
    }
    for (;;) {
        int64_t b0 = atomic_fetch_add(&j->next_block, 1) * LSTM_EVAL_BLOCK;
        if (b0 >= j->B) return;
        eval_rows(j, b0, b0 + LSTM_EVAL_BLOCK < j->B ? b0 + LSTM_EVAL_BLOCK : j->B);
    }
}

static void lstm_forward(const struct gr_args *a) {
    struct lstm_job j = job_of(a);
    struct lstm_cell e = {.T = j.T, .I = j.I, .H = j.H, .reverse = j.reverse, .x = j.x, .w = j.w, .bias = j.bias,
                          .fb = j.fb, .y = j.y, .host = a->host, .host_ctx = a->host_ctx};
    j.ev = &e;
    atomic_init(&j.next_block, 0);
    if (!a->training) {
        j.ez = a->scratch;
        j.ec = j.ez + j.B * j.G;
        /* the fused kernel packs the weights where z would be, when they fit */
        e.c = j.ec;
        e.wp = lstm_cell_fits(j.I, j.H) && j.B >= j.XH ? j.ez : NULL;
        if (e.wp) lstm_cell_pack(&e);
        j.rows = e.wp ? REC_BLOCK : rec_block_rows(a, j.B);
        a->host->parallel_for(a->host_ctx, rec_blocks(j.B, j.rows), eval_blocks, &j);
        return;
    }
    e.xh = j.s.xh, e.z = j.s.z, e.c = j.s.c, e.tc = j.s.tc, e.zeros = j.s.zeros;
    memset(j.s.zeros, 0, (size_t)j.H * sizeof(float));
    /* the packed kernel, kept after the state, when the batch's rows are
     * at least the kernel's: packing it cost more than the fused steps
     * saved at batch 1 or 2 (T = 28, I + H = 92) */
    e.wp = lstm_cell_fits(j.I, j.H) && j.B * j.T >= j.XH ? j.kept : NULL;
    /* a kept kernel still needs skip_zeros: left 0, a step's later leaves
     * ran every x_t @ Wx term */
    if (e.wp) {
        if (a->params_kept) {
            lstm_cell_check_zeros(&e);
        } else {
            lstm_cell_pack(&e);
        }
    }
    j.parts = leaf_parts(&j, e.wp != NULL);
    a->host->parallel_for(a->host_ctx, gr_sum_leaves(j.B) * j.parts, j.parts > 1 ? forward_parts : forward_blocks, &j);
}

/* Leaf k's share of the parameters' gradients, [X, H_{t-1}]^T @ dZ and
 * sum dZ over its rows, into its parts (util.h): the first added onto the
 * gradient, or written over it when told to assign; run by the thread
 * that has just left dZ and XH of the leaf in its cache. */
static void leaf_grads(const struct lstm_job *j, int64_t k, int64_t b0, int64_t b1) {
    const struct gr_args *a = j->a;
    int64_t T = j->T, G = j->G, XH = j->XH;
    int onto_k = k == 0 && !gr_din_assigns(a, IN_KERNEL), onto_b = k == 0 && !gr_din_assigns(a, IN_BIAS);
    if (a->din[IN_KERNEL])
        a->host->sgemm(a->host_ctx, GR_TRANS, GR_NO_TRANS, XH, G, T * (b1 - b0), 1.0f, j->s.xh + T * b0 * XH, XH,
                       j->dz + T * b0 * G, G, onto_k ? 1.0f : 0.0f,
                       gr_sum_part(a->din[IN_KERNEL]->data, j->rest_k, XH * G, k), G);
    if (a->din[IN_BIAS])
        gr_sum_rows(a, j->dz, G, T * b0, T * b1, gr_sum_part(a->din[IN_BIAS]->data, j->rest_b, G, k), G, onto_b);
}

/* Backward through time for the leaf [b0, b1), then its gradients' parts. */
static void backward_rows(const struct lstm_job *j, int64_t k, int64_t b0, int64_t b1) {
    int64_t n = b1 - b0;
    memset(j->dh_next + b0 * j->H, 0, (size_t)(n * j->H) * sizeof(float));
    memset(j->dc_next + b0 * j->H, 0, (size_t)(n * j->H) * sizeof(float));
    lstm_back_rows(j->bk, b0, b1);
    leaf_grads(j, k, b0, b1);
}

static void backward_blocks(void *arg, int64_t k0, int64_t k1) { (void)k0, (void)k1, for_leaves(arg, backward_rows); }

static void grads_blocks(void *arg, int64_t k0, int64_t k1) { (void)k0, (void)k1, for_leaves(arg, leaf_grads); }

/* The leaves in parts (leaf_parts): each part back through time; the
 * gradients' parts after (grads_blocks). */
static void backward_part(const struct lstm_job *j, int64_t lo, int64_t hi, int64_t r0, int64_t r1) {
    memset(j->dh_next + r0 * j->H, 0, (size_t)((r1 - r0) * j->H) * sizeof(float));
    memset(j->dc_next + r0 * j->H, 0, (size_t)((r1 - r0) * j->H) * sizeof(float));
    lstm_back_part(j->bk, lo, hi, r0, r1);
}

static void backward_parts(void *arg, int64_t k0, int64_t k1) { (void)k0, (void)k1, for_parts(arg, backward_part); }

/* dx[b, time of s, :] += dxt[row of (s, b), :] for the samples of leaves k0..k1 */
static void add_dx(void *arg, int64_t k0, int64_t k1) {
    const struct lstm_job *j = arg;
    float *dx = j->a->din[IN_X]->data;
    for (int64_t k = k0; k < k1; k++) {
        int64_t b0, b1;
        gr_sum_leaf(j->B, k, &b0, &b1);
        for (int64_t b = b0; b < b1; b++)
            for (int64_t t = 0; t < j->T; t++) {
                float *d = dx + (b * j->T + time_of(j, t)) * j->I;
                const float *src = j->dxt + (j->T * b0 + t * (b1 - b0) + b - b0) * j->I;
                for (int64_t e = 0; e < j->I; e++) d[e] += src[e];
            }
    }
}

static void lstm_backward(const struct gr_args *a) {
    struct lstm_job j = job_of(a);
    int64_t B = j.B, T = j.T, I = j.I, H = j.H, G = j.G;
    j.dz = j.s.z; /* over the gates (grad_floats) */
    j.dh_next = a->scratch;
    j.dc_next = j.dh_next + B * H;
    float *whp = j.kept + (lstm_cell_fits(I, H) ? j.XH * G : 0);
    j.wht = whp + (lstm_back_fits(H) ? lstm_back_pack_floats(H) : 0);
    j.dxt = j.dc_next + B * H;
    j.rest_k = j.dxt + T * B * I;
    j.rest_b = j.rest_k + (gr_sum_leaves(B) - 1) * j.XH * G;
    struct lstm_back bk = {.T = T, .H = H, .reverse = j.reverse, .z = j.s.z, .c = j.s.c, .tc = j.s.tc,
                           .zeros = j.s.zeros, .dy = a->dout->data, .dz = j.dz, .dh_next = j.dh_next,
                           .dc_next = j.dc_next, .wht = j.wht, .host = a->host, .host_ctx = a->host_ctx};
    j.bk = &bk;
    /* Wh^T once, so each step's product reads both operands row by row
     * (measured 1.8x faster than the transposed product at 32 rows);
     * packed for the fused steps where they fit, else as it is for the
     * host's product (lstm_back_fused) */
    if (lstm_back_fits(H)) {
        bk.whp = whp;
        if (!a->params_kept) lstm_back_pack(&bk, j.wh);
    }
    if (lstm_back_plain(H) && !a->params_kept) gr_transpose(j.wh, H, G, j.wht);
    atomic_init(&j.next_block, 0);
    j.parts = leaf_parts(&j, bk.whp != NULL);
    if (j.parts > 1) {
        a->host->parallel_for(a->host_ctx, gr_sum_leaves(B) * j.parts, backward_parts, &j);
        /* each leaf's product on one thread, as backward_rows runs it; one
         * leaf alone runs outside a job, split over the threads */
        atomic_store(&j.next_block, 0);
        a->host->parallel_for(a->host_ctx, gr_sum_leaves(B), grads_blocks, &j);
    } else {
        a->host->parallel_for(a->host_ctx, gr_sum_leaves(B), backward_blocks, &j);
    }
    /* dW += the leaves' parts up the tree, and dbias */
    if (a->din[IN_KERNEL]) gr_sum_tree(a, B, a->din[IN_KERNEL]->data, j.rest_k, j.XH * G);
    if (a->din[IN_BIAS]) gr_sum_tree(a, B, a->din[IN_BIAS]->data, j.rest_b, G);
    if (a->din[IN_X]) {
        /* dX[T*B, I] = dZ @ Wx^T, then added into x's batch-major layout */
        a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_TRANS, T * B, I, G, 1.0f, j.dz, G, j.w, G, 0.0f, j.dxt, I);
        a->host->parallel_for(a->host_ctx, gr_sum_leaves(B), add_dx, &j);
    }
}

/* The products dominate; the gates and the cell update add about 12
 * operations per unit and step forward and 16 backward. */
static void lstm_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    const struct gr_shape *x = inf->in[0];
    double b = (double)x->dim[0], t = (double)x->dim[1], in = (double)x->dim[2], h = (double)inf->attrs[A_UNITS].i;
    double g = 4 * h;
    double dk = inf->in_grad[IN_KERNEL], dx = inf->in_grad[IN_X];
    *fwd = 2 * t * b * in * g + 2 * (t - 1) * b * h * g + 12 * t * b * h;
    /* dh_next; dWx and dWh where the kernel takes a gradient; dX where x does */
    *bwd = 2 * (t - 1) * b * g * h + dk * (2 * in * g * t * b + 2 * h * g * (t - 1) * b) + dx * 2 * t * b * g * in +
           16 * t * b * h;
}

/* ONNX's LSTM: gates i, o, f, c (graphrun's blocks 0, 3, 1, 2); W [1, 4H, I]
 * and R [1, 4H, H] from the kernel's Wx and Wh rows, transposed; B [1, 8H]
 * is the input bias (with forget_bias added to f) then a zero recurrent
 * bias. */
static int lstm_lower(struct gr_lower *lw) {
    static const int order[4] = {0, 3, 1, 2};
    const float *k = gr_lower_value(lw, IN_KERNEL), *bias = gr_lower_value(lw, IN_BIAS);
    int64_t in = lw->in_shape[IN_X].dim[2], h = lw->attrs[A_UNITS].i;
    int64_t wd[3] = {1, 4 * h, in}, rd[3] = {1, 4 * h, h}, bd[2] = {1, 8 * h};
    const char *wn = NULL, *rn = NULL, *bn = NULL;
    float *w = k && bias ? lw->onnx->initializer(lw, "W", GR_ONNX_FLOAT, 3, wd, &wn) : NULL;
    float *r = w ? lw->onnx->initializer(lw, "R", GR_ONNX_FLOAT, 3, rd, &rn) : NULL;
    float *b = r ? lw->onnx->initializer(lw, "B", GR_ONNX_FLOAT, 2, bd, &bn) : NULL;
    if (!b) return -1;
    gr_lower_gates_t(w, k, in, h, 4, order);
    gr_lower_gates_t(r, k + in * 4 * h, h, h, 4, order);
    float fb = (float)lw->attrs[A_FORGET_BIAS].f;
    for (int q = 0; q < 4; q++)
        for (int64_t j = 0; j < h; j++) b[q * h + j] = bias[order[q] * h + j] + (order[q] == 1 ? fb : 0.0f);
    return gr_lower_recurrent(lw, "LSTM", wn, rn, bn, h, lw->attrs[A_REVERSE].i != 0, 0, NULL);
}

const struct gr_op_desc gr_op_lstm = {
    .name = "lstm",
    .summary = "h[B, T, H] = LSTM over x[B, T, I] (gates i, f, g, o; all hidden states)",
    .inputs_doc = "x [B, T, I]",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = lstm_attrs,
    .n_attrs = 3,
    .params = lstm_params,
    .n_params = 2,
    .infer = lstm_infer,
    .forward = lstm_forward,
    .backward = lstm_backward,
    .flags = GR_OP_ROWWISE | GR_OP_ASSIGNS_PARAM_GRAD,
    .flops = lstm_flops,
    .lower = lstm_lower,
};
