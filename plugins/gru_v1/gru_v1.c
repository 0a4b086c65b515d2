/* gru_v1: a graphrun plugin op, a GRU layer over a whole sequence in the
 * original convention (Cho et al. 2014; Keras's GRU with reset_after=False):
 * the reset gate scales h_{t-1} before the recurrent product. graphrun's
 * built-in `gru` is the other convention, PyTorch's. This file includes
 * graphrun/plugin.h and nothing else of graphrun's.
 *
 *   x[B, T, I] -> h[B, T, H], with h_{-1} = 0, for each step t:
 *   z = sigmoid(x_t Wz + h_{t-1} Uz + bz)          update gate
 *   r = sigmoid(x_t Wr + h_{t-1} Ur + br)          reset gate
 *   n = tanh(x_t Wn + (r * h_{t-1}) Un + bn)        candidate
 *   h_t = (1 - z) * h_{t-1} + z * n
 *
 * Parameters: kernel [I, 3H] (Wz | Wr | Wn) and recurrent [H, 3H]
 * (Uz | Ur | Un), Glorot-uniform; bias [3H], zeros.
 *
 * Backward through time, dh_T = 0, for t = T-1 .. 0 (dy_t from the output):
 *   dh   = dy_t + dh_next
 *   dn   = dh * z            dz = dh * (n - h_{t-1})
 *   da_n = dn * (1 - n^2)    da_z = dz * z (1 - z)
 *   drh  = da_n Un^T         dr = drh * h_{t-1}     da_r = dr * r (1 - r)
 *   dh_next = dh * (1 - z) + drh * r + [da_z, da_r] [Uz, Ur]^T
 * then, over all steps at once: dW += X^T dA, dUzr += H_{t-1}^T [da_z, da_r],
 * dUn += (r * H_{t-1})^T da_n, dbias += sum dA, dX += dA W^T. */
#include <graphrun/plugin.h>
#include <math.h>
#include <string.h>

enum { A_UNITS };
static const struct gr_attr_spec gru_attrs[] = {
    [A_UNITS] = {"num_units", GR_ATTR_INT, "hidden units H", .min = 1, .max = 1 << 20},
};
enum { P_KERNEL, P_RECURRENT, P_BIAS };
static const struct gr_param_spec gru_params[] = {
    [P_KERNEL] = {"kernel", GR_INIT_GLOROT_UNIFORM, "[I, 3H]: input weights of gates z, r and the candidate"},
    [P_RECURRENT] = {"recurrent", GR_INIT_GLOROT_UNIFORM, "[H, 3H]: recurrent weights, same blocks"},
    [P_BIAS] = {"bias", GR_INIT_ZEROS, "[3H]"},
};
enum { IN_X, IN_KERNEL, IN_RECURRENT, IN_BIAS };

/* Rows are batch-major like x: row (b, t) is b * T + t. */
struct state {
    float *g;   /* [B*T, 3H] x W before the step, then z, r, n */
    float *hp;  /* [B*T, H]  h_{t-1} */
    float *rh;  /* [B*T, H]  r * h_{t-1} */
    float *tmp; /* [B, 3H]   a step's recurrent products */
};

static size_t state_floats(int64_t b, int64_t t, int64_t h) { return (size_t)(b * t * 5 * h + b * 3 * h); }

static int gru_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    char s[96];
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    if (x->rank != 3)
        return gr_infer_fail(inf, -1, "input must be [batch, time, features], got %s", gr_shape_format(x, s, sizeof s));
    int64_t b = x->dim[0], t = x->dim[1], in = x->dim[2], h = inf->attrs[A_UNITS].i;
    inf->out = (struct gr_shape){3, {b, t, h}};
    inf->param[P_KERNEL] = (struct gr_shape){2, {in, 3 * h}};
    inf->param[P_RECURRENT] = (struct gr_shape){2, {h, 3 * h}};
    inf->param[P_BIAS] = (struct gr_shape){1, {3 * h}};
    size_t state = state_floats(b, t, h) * sizeof(float);
    if (inf->training) {
        inf->saved_bytes = state;                                         /* kept for backward */
        inf->scratch_bytes = (size_t)(b * t * 3 * h + b * h) * sizeof(float); /* dA, dh */
    } else {
        inf->scratch_bytes = state;
    }
    return 0;
}

static float sigm(float v) { return 1.0f / (1.0f + expf(-v)); }

struct job {
    const struct gr_args *a;
    int64_t B, T, I, H, t;
    struct state s;
    const float *u, *bias;
    float *dA, *dh;
};

static struct job job_of(const struct gr_args *a, float *state) {
    const struct gr_shape *xs = &a->in[IN_X]->shape;
    struct job j = {a, xs->dim[0], xs->dim[1], xs->dim[2], a->out->shape.dim[2], 0, {0}, 0, 0, 0, 0};
    int64_t rows = j.B * j.T, H = j.H;
    j.s.g = state;
    j.s.hp = j.s.g + rows * 3 * H;
    j.s.rh = j.s.hp + rows * H;
    j.s.tmp = j.s.rh + rows * H;
    j.u = a->in[IN_RECURRENT]->data;
    j.bias = a->in[IN_BIAS]->data;
    return j;
}

/* rows b0..b1 of step t: the gates z and r, then r * h_{t-1} */
static void gates_zr(void *arg, int64_t b0, int64_t b1) {
    const struct job *j = arg;
    int64_t H = j->H;
    for (int64_t b = b0; b < b1; b++) {
        int64_t r = b * j->T + j->t;
        float *g = j->s.g + r * 3 * H;
        const float *u = j->s.tmp + b * 3 * H, *hp = j->s.hp + r * H;
        for (int64_t k = 0; k < H; k++) {
            g[k] = sigm(g[k] + u[k] + j->bias[k]);
            g[H + k] = sigm(g[H + k] + u[H + k] + j->bias[H + k]);
            j->s.rh[r * H + k] = g[H + k] * hp[k];
        }
    }
}

/* rows b0..b1 of step t: the candidate and the new state */
static void candidate(void *arg, int64_t b0, int64_t b1) {
    const struct job *j = arg;
    int64_t H = j->H;
    float *y = j->a->out->data;
    for (int64_t b = b0; b < b1; b++) {
        int64_t r = b * j->T + j->t;
        float *g = j->s.g + r * 3 * H;
        const float *q = j->s.tmp + b * 3 * H + 2 * H, *hp = j->s.hp + r * H;
        for (int64_t k = 0; k < H; k++) {
            float n = tanhf(g[2 * H + k] + q[k] + j->bias[2 * H + k]);
            g[2 * H + k] = n;
            float h = (1.0f - g[k]) * hp[k] + g[k] * n;
            y[r * H + k] = h;
            if (j->t + 1 < j->T) j->s.hp[(r + 1) * H + k] = h;
        }
    }
}

static void gru_forward(const struct gr_args *a) {
    struct job j = job_of(a, a->training ? a->saved : a->scratch);
    int64_t B = j.B, T = j.T, I = j.I, H = j.H;
    const struct gr_host *host = a->host;
    /* every step's input projection in one product: G = X[B*T, I] W[I, 3H] */
    host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, B * T, 3 * H, I, 1.0f, a->in[IN_X]->data, I,
                a->in[IN_KERNEL]->data, 3 * H, 0.0f, j.s.g, 3 * H);
    for (int64_t b = 0; b < B; b++) memset(j.s.hp + b * T * H, 0, (size_t)H * sizeof(float)); /* h_{-1} */
    for (int64_t t = 0; t < T; t++) {
        j.t = t;
        /* tmp[:, 0:2H] = h_{t-1} [Uz, Ur]; the step's rows are T apart */
        host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, B, 2 * H, H, 1.0f, j.s.hp + t * H, T * H, j.u, 3 * H, 0.0f,
                    j.s.tmp, 3 * H);
        host->parallel_for(a->host_ctx, B, gates_zr, &j);
        /* tmp[:, 2H:3H] = (r * h_{t-1}) Un */
        host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, B, H, H, 1.0f, j.s.rh + t * H, T * H, j.u + 2 * H, 3 * H,
                    0.0f, j.s.tmp + 2 * H, 3 * H);
        host->parallel_for(a->host_ctx, B, candidate, &j);
    }
}

/* rows b0..b1 of step t, first half: da_z, da_n, and dh's direct part */
static void back_zn(void *arg, int64_t b0, int64_t b1) {
    const struct job *j = arg;
    int64_t H = j->H;
    const float *dy = j->a->dout->data;
    for (int64_t b = b0; b < b1; b++) {
        int64_t r = b * j->T + j->t;
        const float *g = j->s.g + r * 3 * H, *hp = j->s.hp + r * H;
        float *da = j->dA + r * 3 * H, *dh = j->dh + b * H;
        for (int64_t k = 0; k < H; k++) {
            float z = g[k], n = g[2 * H + k];
            float d = dy[r * H + k] + dh[k];
            da[k] = d * (n - hp[k]) * z * (1.0f - z);
            da[2 * H + k] = d * z * (1.0f - n * n);
            dh[k] = d * (1.0f - z);
        }
    }
}

/* second half: with tmp = da_n Un^T, the reset gate's part */
static void back_r(void *arg, int64_t b0, int64_t b1) {
    const struct job *j = arg;
    int64_t H = j->H;
    for (int64_t b = b0; b < b1; b++) {
        int64_t r = b * j->T + j->t;
        const float *g = j->s.g + r * 3 * H, *hp = j->s.hp + r * H, *drh = j->s.tmp + b * H;
        float *da = j->dA + r * 3 * H, *dh = j->dh + b * H;
        for (int64_t k = 0; k < H; k++) {
            float rg = g[H + k];
            da[H + k] = drh[k] * hp[k] * rg * (1.0f - rg);
            dh[k] += drh[k] * rg;
        }
    }
}

static void gru_backward(const struct gr_args *a) {
    struct job j = job_of(a, a->saved);
    int64_t B = j.B, T = j.T, I = j.I, H = j.H, rows = B * T;
    const struct gr_host *host = a->host;
    j.dA = a->scratch;
    j.dh = j.dA + rows * 3 * H;
    memset(j.dh, 0, (size_t)(B * H) * sizeof(float));
    for (int64_t t = T - 1; t >= 0; t--) {
        j.t = t;
        host->parallel_for(a->host_ctx, B, back_zn, &j);
        /* drh[B, H] = da_n Un^T */
        host->sgemm(a->host_ctx, GR_NO_TRANS, GR_TRANS, B, H, H, 1.0f, j.dA + t * 3 * H + 2 * H, T * 3 * H,
                    j.u + 2 * H, 3 * H, 0.0f, j.s.tmp, H);
        host->parallel_for(a->host_ctx, B, back_r, &j);
        /* dh_next += [da_z, da_r] [Uz, Ur]^T */
        host->sgemm(a->host_ctx, GR_NO_TRANS, GR_TRANS, B, H, 2 * H, 1.0f, j.dA + t * 3 * H, T * 3 * H, j.u, 3 * H,
                    1.0f, j.dh, H);
    }
    if (a->din[IN_KERNEL]) /* dW[I, 3H] += X^T dA */
        host->sgemm(a->host_ctx, GR_TRANS, GR_NO_TRANS, I, 3 * H, rows, 1.0f, a->in[IN_X]->data, I, j.dA, 3 * H, 1.0f,
                    a->din[IN_KERNEL]->data, 3 * H);
    if (a->din[IN_RECURRENT]) {
        float *du = a->din[IN_RECURRENT]->data;
        /* dU[:, 0:2H] += H_{t-1}^T [da_z, da_r];  dU[:, 2H:] += (r * H_{t-1})^T da_n */
        host->sgemm(a->host_ctx, GR_TRANS, GR_NO_TRANS, H, 2 * H, rows, 1.0f, j.s.hp, H, j.dA, 3 * H, 1.0f, du, 3 * H);
        host->sgemm(a->host_ctx, GR_TRANS, GR_NO_TRANS, H, H, rows, 1.0f, j.s.rh, H, j.dA + 2 * H, 3 * H, 1.0f,
                    du + 2 * H, 3 * H);
    }
    if (a->din[IN_BIAS]) {
        float *db = a->din[IN_BIAS]->data;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < 3 * H; k++) db[k] += j.dA[r * 3 * H + k];
    }
    if (a->din[IN_X]) /* dX[B*T, I] += dA W^T */
        host->sgemm(a->host_ctx, GR_NO_TRANS, GR_TRANS, rows, I, 3 * H, 1.0f, j.dA, 3 * H, a->in[IN_KERNEL]->data,
                    3 * H, 1.0f, a->din[IN_X]->data, I);
}

static void gru_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    const struct gr_shape *x = inf->in[0];
    double b = (double)x->dim[0], t = (double)x->dim[1], in = (double)x->dim[2], h = (double)inf->attrs[A_UNITS].i;
    double xw = 2 * b * t * in * 3 * h, hu = 2 * b * t * h * 3 * h;
    *fwd = xw + hu;
    /* dh through U; dU, dW and dX where each is formed (in_grad) */
    *bwd = (1 + inf->in_grad[IN_RECURRENT]) * hu + (inf->in_grad[IN_KERNEL] + inf->in_grad[IN_X]) * xw;
}

static const struct gr_op_desc gru_op = {
    .name = "gru_v1",
    .summary = "h[B, T, H] = GRU over x[B, T, I], reset before the recurrent product (gates z, r; every step)",
    .inputs_doc = "x [B, T, I]",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = gru_attrs,
    .n_attrs = 1,
    .params = gru_params,
    .n_params = 3,
    .infer = gru_infer,
    .forward = gru_forward,
    .backward = gru_backward,
    .flops = gru_flops,
};

GR_PLUGIN_DECLARE();

int graphrun_plugin_init(const struct gr_host *host, void *host_ctx, char *err, size_t err_len) {
    return host->register_op(host_ctx, &gru_op, err, err_len);
}
