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
 * Fused: the input projection of all T steps is one product, each step adds
 * one [B, H] @ [H, 4H] product, and the gates and the cell update are one
 * pass. Batch rows never interact, so the recurrence runs each thread's block
 * of rows through all T steps without waiting for the others.
 *
 * Training keeps, batch-major like x, the rows [x_t, h_{t-1}] ([B*T, I+H]),
 * so the kernel's gradient is one product over all steps, dW = XH^T dZ. An
 * evaluation plan keeps nothing: it projects one step at a time and updates
 * the cell state in place, in [B, 5H] of scratch.
 *
 * Backward through time (dh_T = dc_T = 0), for t = T-1 .. 0:
 *   dh   = dout_t + dh_next
 *   dc   = dc_next + dh * o * (1 - tanh(c_t)^2)
 *   dz_i = dc * g * i (1 - i)          dz_f = dc * c_{t-1} * f (1 - f)
 *   dz_g = dc * i * (1 - g^2)          dz_o = dh * tanh(c_t) * o (1 - o)
 *   dh_next = dz_t @ Wh^T,  dc_next = dc * f
 * then dW += [X, H_{t-1}]^T dZ, dbias += sum dZ, dx_t += dz_t @ Wx^T. */
#include <string.h>

#include "graphrun/plugin.h"
#include "fastmath.h"

enum { A_UNITS, A_FORGET_BIAS };
static const struct gr_attr_spec lstm_attrs[] = {
    [A_UNITS] = {"num_units", GR_ATTR_INT, "hidden units H", .min = 1, .max = 1 << 20},
    [A_FORGET_BIAS] = {"forget_bias", GR_ATTR_FLOAT, "added to the forget gate's pre-activation", .def = "1.0"},
};
enum { P_KERNEL, P_BIAS };
static const struct gr_param_spec lstm_params[] = {
    [P_KERNEL] = {"kernel", GR_INIT_GLOROT_UNIFORM, "[I + H, 4H]: Wx stacked over Wh, gate blocks i, f, g, o"},
    [P_BIAS] = {"bias", GR_INIT_ZEROS, "[4H]"},
};
enum { IN_X, IN_KERNEL, IN_BIAS };

/* Training state, batch-major ([b, t] rows): */
struct lstm_state {
    float *xh;    /* [B*T, I+H] row (b, t) = [x_t, h_{t-1}] */
    float *z;     /* [B*T, 4H] activated gates */
    float *c;     /* [B*T, H] cell states */
    float *tc;    /* [B*T, H] tanh(c) */
    float *zeros; /* [H] c_{-1} */
};

static size_t state_floats(int64_t b, int64_t t, int64_t in, int64_t h) {
    return (size_t)(b * t * (in + h + 4 * h + 2 * h) + h);
}

static struct lstm_state state_at(float *base, int64_t b, int64_t t, int64_t in, int64_t h) {
    struct lstm_state s;
    s.xh = base;
    s.z = s.xh + b * t * (in + h);
    s.c = s.z + b * t * 4 * h;
    s.tc = s.c + b * t * h;
    s.zeros = s.tc + b * t * h;
    return s;
}

/* backward's scratch: dz [B*T, 4H], dh_next and dc_next [B, H], Wh^T [4H, H] */
static size_t grad_floats(int64_t b, int64_t t, int64_t h) { return (size_t)(b * t * 4 * h + 2 * b * h + 4 * h * h); }

/* evaluation's scratch: z [B, 4H], c [B, H] */
static size_t eval_floats(int64_t b, int64_t h) { return (size_t)(b * 5 * h); }

static int lstm_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    char s[96];
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    if (x->rank != 3)
        return gr_infer_fail(inf, -1, "input must be [batch, time, features], got %s", gr_shape_format(x, s, sizeof s));
    int64_t b = x->dim[0], t = x->dim[1], in = x->dim[2], h = inf->attrs[A_UNITS].i;
    inf->out = (struct gr_shape){3, {b, t, h}};
    inf->param[P_KERNEL] = (struct gr_shape){2, {in + h, 4 * h}};
    inf->param[P_BIAS] = (struct gr_shape){1, {4 * h}};
    if (inf->training) {
        inf->saved_bytes = state_floats(b, t, in, h) * sizeof(float);
        inf->scratch_bytes = grad_floats(b, t, h) * sizeof(float);
    } else {
        inf->scratch_bytes = eval_floats(b, h) * sizeof(float);
    }
    return 0;
}

/* One step of one row: z holds the pre-activations [4H] without the bias and
 * leaves with the activated gates. */
static void cell_forward(int64_t H, float *restrict z, const float *restrict bias, float fb,
                         const float *restrict cprev, float *restrict c, float *restrict tc, float *restrict h) {
    for (int64_t j = 0; j < H; j++) {
        float ig = gr_sigmoid(z[j] + bias[j]);
        float fg = gr_sigmoid(z[H + j] + bias[H + j] + fb);
        float gg = gr_tanh(z[2 * H + j] + bias[2 * H + j]);
        float og = gr_sigmoid(z[3 * H + j] + bias[3 * H + j]);
        float cv = ig * gg + fg * cprev[j];
        float t = gr_tanh(cv);
        z[j] = ig;
        z[H + j] = fg;
        z[2 * H + j] = gg;
        z[3 * H + j] = og;
        c[j] = cv;
        tc[j] = t;
        h[j] = og * t;
    }
}

/* The same without keeping anything for backward; c is updated in place. */
static void cell_step(int64_t H, const float *restrict z, const float *restrict bias, float fb, float *restrict c,
                      float *restrict h) {
    for (int64_t j = 0; j < H; j++) {
        float ig = gr_sigmoid(z[j] + bias[j]);
        float fg = gr_sigmoid(z[H + j] + bias[H + j] + fb);
        float gg = gr_tanh(z[2 * H + j] + bias[2 * H + j]);
        float og = gr_sigmoid(z[3 * H + j] + bias[3 * H + j]);
        float cv = ig * gg + fg * c[j];
        c[j] = cv;
        h[j] = og * gr_tanh(cv);
    }
}

/* One step of one row backward: dz [4H] from the saved gates; dh_next
 * arrives holding dh from later steps, dc_next is updated in place. */
static void cell_backward(int64_t H, const float *restrict g, const float *restrict tc, const float *restrict cprev,
                          const float *restrict dy, const float *restrict dh_next, float *restrict dc_next,
                          float *restrict dz) {
    for (int64_t j = 0; j < H; j++) {
        float ig = g[j], fg = g[H + j], gg = g[2 * H + j], og = g[3 * H + j];
        float dh = dy[j] + dh_next[j];
        float dc = dc_next[j] + dh * og * (1.0f - tc[j] * tc[j]);
        dz[j] = dc * gg * ig * (1.0f - ig);
        dz[H + j] = dc * cprev[j] * fg * (1.0f - fg);
        dz[2 * H + j] = dc * ig * (1.0f - gg * gg);
        dz[3 * H + j] = dh * tc[j] * og * (1.0f - og);
        dc_next[j] = dc * fg;
    }
}

struct lstm_job {
    const struct gr_args *a;
    int64_t B, T, I, H, G, XH; /* XH = I + H, the row length of xh */
    struct lstm_state s;
    const float *x, *w, *wh, *bias;
    float fb;
    float *y;
    float *dz, *dh_next, *dc_next, *wht; /* backward */
    float *ez, *ec;                      /* evaluation */
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
    j.y = a->out->data;
    if (a->saved) j.s = state_at(a->saved, j.B, j.T, j.I, j.H);
    return j;
}

/* xh rows (b, t) = [x_t, 0] for rows b0..b1; h_{t-1} is filled in as the steps run */
static void fill_xh(void *arg, int64_t b0, int64_t b1) {
    const struct lstm_job *j = arg;
    for (int64_t r = b0 * j->T; r < b1 * j->T; r++) {
        memcpy(j->s.xh + r * j->XH, j->x + r * j->I, (size_t)j->I * sizeof(float));
        memset(j->s.xh + r * j->XH + j->I, 0, (size_t)j->H * sizeof(float));
    }
}

/* Training recurrence for batch rows b0..b1, all T steps. */
static void forward_rows(void *arg, int64_t b0, int64_t b1) {
    const struct lstm_job *j = arg;
    const struct gr_args *a = j->a;
    int64_t T = j->T, H = j->H, G = j->G, XH = j->XH, n = b1 - b0;
    for (int64_t t = 0; t < T; t++) {
        int64_t r0 = b0 * T + t; /* row (b0, t); rows of one step are T apart */
        if (t > 0)             /* z_t += h_{t-1} @ Wh */
            a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, n, G, H, 1.0f, j->s.xh + r0 * XH + j->I, T * XH,
                           j->wh, G, 1.0f, j->s.z + r0 * G, T * G);
        for (int64_t b = b0; b < b1; b++) {
            int64_t r = b * T + t;
            const float *cprev = t > 0 ? j->s.c + (r - 1) * H : j->s.zeros;
            float *h = j->y + r * H;
            cell_forward(H, j->s.z + r * G, j->bias, j->fb, cprev, j->s.c + r * H, j->s.tc + r * H, h);
            if (t + 1 < T) memcpy(j->s.xh + (r + 1) * XH + j->I, h, (size_t)H * sizeof(float));
        }
    }
}

/* Evaluation for batch rows b0..b1: one step at a time, nothing kept. */
static void eval_rows(void *arg, int64_t b0, int64_t b1) {
    const struct lstm_job *j = arg;
    const struct gr_args *a = j->a;
    int64_t T = j->T, I = j->I, H = j->H, G = j->G, n = b1 - b0;
    float *z = j->ez + b0 * G, *c = j->ec + b0 * H;
    memset(c, 0, (size_t)(n * H) * sizeof(float));
    for (int64_t t = 0; t < T; t++) {
        /* z = x_t @ Wx (+ h_{t-1} @ Wh), reading x and h where they lie, T rows apart */
        a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, n, G, I, 1.0f, j->x + (b0 * T + t) * I, T * I, j->w, G,
                       0.0f, z, G);
        if (t > 0)
            a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, n, G, H, 1.0f, j->y + (b0 * T + t - 1) * H, T * H,
                           j->wh, G, 1.0f, z, G);
        for (int64_t k = 0; k < n; k++) cell_step(H, z + k * G, j->bias, j->fb, c + k * H, j->y + ((b0 + k) * T + t) * H);
    }
}

static void lstm_forward(const struct gr_args *a) {
    struct lstm_job j = job_of(a);
    if (!a->training) {
        j.ez = a->scratch;
        j.ec = j.ez + j.B * j.G;
        a->host->parallel_for(a->host_ctx, j.B, eval_rows, &j);
        return;
    }
    memset(j.s.zeros, 0, (size_t)j.H * sizeof(float));
    a->host->parallel_for(a->host_ctx, j.B, fill_xh, &j);
    /* Z[B*T, 4H] = X[B*T, I] @ Wx[I, 4H], every step at once */
    a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, j.B * j.T, j.G, j.I, 1.0f, j.s.xh, j.XH, j.w, j.G, 0.0f,
                   j.s.z, j.G);
    a->host->parallel_for(a->host_ctx, j.B, forward_rows, &j);
}

/* Backward through time for batch rows b0..b1. */
static void backward_rows(void *arg, int64_t b0, int64_t b1) {
    const struct lstm_job *j = arg;
    const struct gr_args *a = j->a;
    int64_t T = j->T, H = j->H, G = j->G, n = b1 - b0;
    const float *dy = a->dout->data;
    memset(j->dh_next + b0 * H, 0, (size_t)(n * H) * sizeof(float));
    memset(j->dc_next + b0 * H, 0, (size_t)(n * H) * sizeof(float));
    for (int64_t t = T - 1; t >= 0; t--) {
        for (int64_t b = b0; b < b1; b++) {
            int64_t r = b * T + t;
            const float *cprev = t > 0 ? j->s.c + (r - 1) * H : j->s.zeros;
            cell_backward(H, j->s.z + r * G, j->s.tc + r * H, cprev, dy + r * H, j->dh_next + b * H,
                          j->dc_next + b * H, j->dz + r * G);
        }
        if (t > 0) /* dh_next[n, H] = dz_t[n, 4H] @ Wh^T[4H, H] */
            a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, n, H, G, 1.0f, j->dz + (b0 * T + t) * G, T * G,
                           j->wht, H, 0.0f, j->dh_next + b0 * H, H);
    }
}

/* dbias[c] += sum over all B*T rows of dz[., c], for columns c0..c1 */
static void bias_grad(void *arg, int64_t c0, int64_t c1) {
    const struct lstm_job *j = arg;
    float *db = j->a->din[IN_BIAS]->data;
    for (int64_t r = 0; r < j->T * j->B; r++) {
        const float *d = j->dz + r * j->G;
        for (int64_t c = c0; c < c1; c++) db[c] += d[c];
    }
}

static void lstm_backward(const struct gr_args *a) {
    struct lstm_job j = job_of(a);
    int64_t B = j.B, T = j.T, I = j.I, H = j.H, G = j.G;
    j.dz = a->scratch;
    j.dh_next = j.dz + B * T * G;
    j.dc_next = j.dh_next + B * H;
    j.wht = j.dc_next + B * H;
    /* Wh^T once, so each step's product reads both operands row by row
     * (measured 1.8x faster than the transposed product at 32 rows) */
    for (int64_t r = 0; r < H; r++)
        for (int64_t c = 0; c < G; c++) j.wht[c * H + r] = j.wh[r * G + c];
    a->host->parallel_for(a->host_ctx, B, backward_rows, &j);
    /* dW[I+H, 4H] += [X, H_{t-1}]^T @ dZ over all B*T rows */
    if (a->din[IN_KERNEL])
        a->host->sgemm(a->host_ctx, GR_TRANS, GR_NO_TRANS, I + H, G, B * T, 1.0f, j.s.xh, j.XH, j.dz, G, 1.0f,
                       a->din[IN_KERNEL]->data, G);
    if (a->din[IN_BIAS]) a->host->parallel_for(a->host_ctx, G, bias_grad, &j);
    /* dX[B*T, I] += dZ @ Wx^T, already in x's layout */
    if (a->din[IN_X])
        a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_TRANS, B * T, I, G, 1.0f, j.dz, G, j.w, G, 1.0f, a->din[IN_X]->data,
                       I);
}

/* The products dominate; the gates and the cell update add about 12
 * operations per unit and step forward and 16 backward. */
static void lstm_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    const struct gr_shape *x = inf->in[0];
    double b = (double)x->dim[0], t = (double)x->dim[1], in = (double)x->dim[2], h = (double)inf->attrs[A_UNITS].i;
    double g = 4 * h;
    *fwd = 2 * t * b * in * g + 2 * (t - 1) * b * h * g + 12 * t * b * h;
    /* dh_next, dWx, dWh, dX */
    *bwd = 2 * (t - 1) * b * g * h + 2 * in * g * t * b + 2 * h * g * (t - 1) * b + 2 * t * b * g * in + 16 * t * b * h;
}

const struct gr_op_desc gr_op_lstm = {
    .name = "lstm",
    .summary = "h[B, T, H] = LSTM over x[B, T, I] (gates i, f, g, o; all hidden states)",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = lstm_attrs,
    .n_attrs = 2,
    .params = lstm_params,
    .n_params = 2,
    .infer = lstm_infer,
    .forward = lstm_forward,
    .backward = lstm_backward,
    .flops = lstm_flops,
};
