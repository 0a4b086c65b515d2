/* param: a tensor without a batch axis in the parameter block, trained
 * unless `trainable: false`. Layers such as dense and lstm get theirs made
 * for them, and ops' state (batch_norm's running statistics) is one too,
 * untrained; a graph can also declare one directly. */
#include <assert.h>

#include "core.h"

const char *const gr_init_names[GR_INIT_COUNT + 1] = {
    [GR_INIT_ZEROS] = "zeros",
    [GR_INIT_ONES] = "ones",
    [GR_INIT_GLOROT_UNIFORM] = "glorot_uniform",
    [GR_INIT_GLOROT_NORMAL] = "glorot_normal",
    [GR_INIT_HE_NORMAL] = "he_normal",
    [GR_INIT_HE_UNIFORM] = "he_uniform",
    [GR_INIT_LECUN_NORMAL] = "lecun_normal",
    [GR_INIT_LECUN_UNIFORM] = "lecun_uniform",
    [GR_INIT_COUNT] = NULL,
};
static_assert(GR_INIT_COUNT == 8, "gr_init_names must name every initializer");

static const struct gr_attr_spec param_attrs[] = {
    [GR_PARAM_SHAPE] = {"shape", GR_ATTR_INTS, "shape of the tensor (no batch axis)", .min = 1, .max = 1e9},
    [GR_PARAM_INIT] = {"init", GR_ATTR_STRING, "initializer", .def = "glorot_uniform", .choices = gr_init_names},
    [GR_PARAM_TRAINABLE] = {"trainable", GR_ATTR_BOOL, "updated by the optimizer", .def = "true"},
};

static int param_infer(struct gr_infer *inf) {
    const struct gr_attr_value *shape = &inf->attrs[GR_PARAM_SHAPE];
    if (shape->n == 0) return gr_infer_fail(inf, GR_PARAM_SHAPE, "a parameter needs at least one axis");
    inf->out.rank = shape->n;
    for (int i = 0; i < shape->n; i++) inf->out.dim[i] = shape->ints[i];
    inf->out_dtype = GR_F32;
    return 0;
}

/* values live in the graph's parameter block; nothing to compute */
static void param_forward(const struct gr_args *a) { (void)a; }

const struct gr_op_desc gr_op_param = {
    .name = "param",
    .summary = "out[shape] = a trainable tensor, initialised once",
    .min_inputs = 0,
    .max_inputs = 0,
    .attrs = param_attrs,
    .n_attrs = GR_PARAM_N_ATTRS,
    .infer = param_infer,
    .forward = param_forward,
    .flags = GR_OP_PARAM,
};
