/* input: a batch fed from the dataset.
 *   data: images -> float32 [B, shape...], pixels mapped into data.pixel_range
 *   data: labels -> int32 [B], one class index per sample */
#include "core.h"

static const char *const input_sources[] = {"images", "labels", NULL};

static const struct gr_attr_spec input_attrs[] = {
    [GR_INPUT_DATA] = {"data", GR_ATTR_STRING, "which part of each sample feeds this node", .choices = input_sources},
    [GR_INPUT_SHAPE] = {"shape", GR_ATTR_INTS, "shape of one sample, without the batch axis",
                        .def = "[]", .min = 1, .max = 1e9},
};

static int input_infer(struct gr_infer *inf) {
    const struct gr_attr_value *shape = &inf->attrs[GR_INPUT_SHAPE];
    if (shape->n + 1 > GR_MAX_DIMS)
        return gr_infer_fail(inf, GR_INPUT_SHAPE, "at most %d axes besides the batch", GR_MAX_DIMS - 1);
    int labels = inf->attrs[GR_INPUT_DATA].i == GR_INPUT_LABELS;
    if (labels && shape->n != 0)
        return gr_infer_fail(inf, GR_INPUT_SHAPE, "labels are one class index per sample: leave out 'shape'");
    if (!labels && shape->n == 0)
        return gr_infer_fail(inf, GR_INPUT_SHAPE, "images need 'shape', e.g. [784] or [28, 28]");
    inf->out.rank = shape->n + 1;
    inf->out.dim[0] = inf->batch;
    for (int i = 0; i < shape->n; i++) inf->out.dim[i + 1] = shape->ints[i];
    inf->out_dtype = labels ? GR_I32 : GR_F32;
    return 0;
}

/* the runtime writes the batch into the output before forward runs */
static void input_forward(const struct gr_args *a) { (void)a; }

const struct gr_op_desc gr_op_input = {
    .name = "input",
    .summary = "out[B, shape...] = the batch's images (float32) or labels (int32)",
    .min_inputs = 0,
    .max_inputs = 0,
    .attrs = input_attrs,
    .n_attrs = GR_INPUT_N_ATTRS,
    .infer = input_infer,
    .forward = input_forward,
    .flags = GR_OP_INPUT,
};
