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
 * one [B, H] @ [H, 4H] product, and the gates and cell update are one pass.
 * Internally everything is time-major ([T, B, ...]) so each step's rows are
 * contiguous and the weight gradients are single products over all steps.
 *
 * Backward through time (dh_T = dc_T = 0), for t = T-1 .. 0:
 *   dh   = dout_t + dh_next
 *   dc   = dc_next + dh * o * (1 - tanh(c_t)^2)
 *   dz_i = dc * g * i (1 - i)          dz_f = dc * c_{t-1} * f (1 - f)
 *   dz_g = dc * i * (1 - g^2)          dz_o = dh * tanh(c_t) * o (1 - o)
 *   dh_next = dz_t @ Wh^T,  dc_next = dc * f
 * then dWx += X^T dZ, dWh += H_{t-1}^T dZ_t summed over t, dbias += sum dZ,
 * dx_t = dz_t @ Wx^T. */
#include <math.h>
#include <string.h>

#include "graphrun/plugin.h"

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

/* Working arrays, all time-major. In training they are the node's saved
 * state; in evaluation they are scratch. */
struct lstm_state {
    float *xt; /* [T, B, I] the input */
    float *z;  /* [T, B, 4H] activated gates */
    float *c;  /* [T, B, H] cell states */
    float *tc; /* [T, B, H] tanh(c) */
    float *h;  /* [T, B, H] hidden states */
};

static size_t state_floats(int64_t b, int64_t t, int64_t in, int64_t h) {
    return (size_t)(t * b * (in + 4 * h + 3 * h));
}

static struct lstm_state state_at(float *base, int64_t b, int64_t t, int64_t in, int64_t h) {
    struct lstm_state s;
    s.xt = base;
    s.z = s.xt + t * b * in;
    s.c = s.z + t * b * 4 * h;
    s.tc = s.c + t * b * h;
    s.h = s.tc + t * b * h;
    return s;
}

/* backward's scratch: dz [T, B, 4H], dh and dc [B, H], dxt [T, B, I] */
static size_t grad_floats(int64_t b, int64_t t, int64_t in, int64_t h) {
    return (size_t)(t * b * 4 * h + 2 * b * h + t * b * in);
}

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
    size_t state = state_floats(b, t, in, h) * sizeof(float);
    size_t grads = grad_floats(b, t, in, h) * sizeof(float);
    if (inf->training) {
        inf->saved_bytes = state;
        inf->scratch_bytes = grads;
    } else {
        inf->scratch_bytes = state;
    }
    return 0;
}

static inline float sigm(float v) { return 1.0f / (1.0f + expf(-v)); }

static void lstm_forward(const struct gr_args *a) {
    const struct gr_shape *xs = &a->in[IN_X]->shape;
    int64_t B = xs->dim[0], T = xs->dim[1], I = xs->dim[2], H = a->out->shape.dim[2], G = 4 * H;
    const float *x = a->in[IN_X]->data, *w = a->in[IN_KERNEL]->data, *bias = a->in[IN_BIAS]->data;
    const float *wh = w + I * G;
    float fb = (float)a->attrs[A_FORGET_BIAS].f;
    float *y = a->out->data;
    struct lstm_state s = state_at(a->training ? a->saved : a->scratch, B, T, I, H);

    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++) memcpy(s.xt + (t * B + b) * I, x + (b * T + t) * I, (size_t)I * sizeof(float));
    /* Z[T*B, 4H] = X[T*B, I] @ Wx[I, 4H], every step at once */
    a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, T * B, G, I, 1.0f, s.xt, I, w, G, 0.0f, s.z, G);

    for (int64_t t = 0; t < T; t++) {
        float *z = s.z + t * B * G;
        if (t > 0) /* z_t += h_{t-1} @ Wh */
            a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, B, G, H, 1.0f, s.h + (t - 1) * B * H, H, wh, G, 1.0f,
                           z, G);
        for (int64_t b = 0; b < B; b++) {
            float *zb = z + b * G;
            const float *cprev = t > 0 ? s.c + ((t - 1) * B + b) * H : NULL;
            float *c = s.c + (t * B + b) * H, *tc = s.tc + (t * B + b) * H, *h = s.h + (t * B + b) * H;
            for (int64_t j = 0; j < H; j++) {
                float ig = sigm(zb[j] + bias[j]);
                float fg = sigm(zb[H + j] + bias[H + j] + fb);
                float gg = tanhf(zb[2 * H + j] + bias[2 * H + j]);
                float og = sigm(zb[3 * H + j] + bias[3 * H + j]);
                float cv = ig * gg + (cprev ? fg * cprev[j] : 0.0f);
                zb[j] = ig;
                zb[H + j] = fg;
                zb[2 * H + j] = gg;
                zb[3 * H + j] = og;
                c[j] = cv;
                tc[j] = tanhf(cv);
                h[j] = og * tc[j];
            }
            memcpy(y + (b * T + t) * H, h, (size_t)H * sizeof(float));
        }
    }
}

static void lstm_backward(const struct gr_args *a) {
    const struct gr_shape *xs = &a->in[IN_X]->shape;
    int64_t B = xs->dim[0], T = xs->dim[1], I = xs->dim[2], H = a->out->shape.dim[2], G = 4 * H;
    const float *w = a->in[IN_KERNEL]->data, *wh = w + I * G, *dy = a->dout->data;
    struct lstm_state s = state_at(a->saved, B, T, I, H);
    float *dz = a->scratch, *dh_next = dz + T * B * G, *dc_next = dh_next + B * H, *dxt = dc_next + B * H;
    memset(dh_next, 0, (size_t)(2 * B * H) * sizeof(float));

    for (int64_t t = T - 1; t >= 0; t--) {
        float *dzt = dz + t * B * G;
        for (int64_t b = 0; b < B; b++) {
            const float *gt = s.z + (t * B + b) * G;
            const float *tc = s.tc + (t * B + b) * H;
            const float *cprev = t > 0 ? s.c + ((t - 1) * B + b) * H : NULL;
            const float *dyb = dy + (b * T + t) * H;
            float *dzb = dzt + b * G, *dhn = dh_next + b * H, *dcn = dc_next + b * H;
            for (int64_t j = 0; j < H; j++) {
                float ig = gt[j], fg = gt[H + j], gg = gt[2 * H + j], og = gt[3 * H + j];
                float dh = dyb[j] + dhn[j];
                float dc = dcn[j] + dh * og * (1.0f - tc[j] * tc[j]);
                dzb[j] = dc * gg * ig * (1.0f - ig);
                dzb[H + j] = cprev ? dc * cprev[j] * fg * (1.0f - fg) : 0.0f;
                dzb[2 * H + j] = dc * ig * (1.0f - gg * gg);
                dzb[3 * H + j] = dh * tc[j] * og * (1.0f - og);
                dcn[j] = dc * fg;
            }
        }
        if (t > 0) /* dh_next[B, H] = dz_t[B, 4H] @ Wh[H, 4H]^T */
            a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_TRANS, B, H, G, 1.0f, dzt, G, wh, G, 0.0f, dh_next, H);
    }
    if (a->din[IN_KERNEL]) {
        float *dw = a->din[IN_KERNEL]->data;
        /* dWx[I, 4H] += X[T*B, I]^T @ dZ[T*B, 4H] */
        a->host->sgemm(a->host_ctx, GR_TRANS, GR_NO_TRANS, I, G, T * B, 1.0f, s.xt, I, dz, G, 1.0f, dw, G);
        /* dWh[H, 4H] += H_{0..T-2}^T @ dZ_{1..T-1} */
        if (T > 1)
            a->host->sgemm(a->host_ctx, GR_TRANS, GR_NO_TRANS, H, G, (T - 1) * B, 1.0f, s.h, H, dz + B * G, G, 1.0f,
                           dw + I * G, G);
    }
    if (a->din[IN_BIAS]) {
        float *db = a->din[IN_BIAS]->data;
        for (int64_t r = 0; r < T * B; r++)
            for (int64_t j = 0; j < G; j++) db[j] += dz[r * G + j];
    }
    if (a->din[IN_X]) {
        float *dx = a->din[IN_X]->data;
        /* dX[T*B, I] = dZ @ Wx^T, then back to batch-major */
        a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_TRANS, T * B, I, G, 1.0f, dz, G, w, G, 0.0f, dxt, I);
        for (int64_t t = 0; t < T; t++)
            for (int64_t b = 0; b < B; b++) {
                float *d = dx + (b * T + t) * I;
                const float *src = dxt + (t * B + b) * I;
                for (int64_t k = 0; k < I; k++) d[k] += src[k];
            }
    }
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
};
