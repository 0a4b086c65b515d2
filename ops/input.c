/* input: a batch fed from one array of the dataset.
 *   data: the array's name (images, labels, features, or any array the
 *         data section gives); shape: one sample, without the batch axis
 *         ([] by default: one value a sample)
 *   dtype float32 -> out [B, shape...]: uint8 arrays mapped into
 *                    data.pixel_range, float32 arrays as they are
 *   dtype int32   -> out [B, shape...]: uint8 or int32 arrays (class
 *                    indices, token ids)
 * dtype is int32 for `data: labels` and float32 for any other array unless
 * given: the graph's types never depend on a file's content, so `check`,
 * `graph` and `predict` build the same graph without reading data. The
 * session checks the array against the node before it reads anything. */
#include "core.h"

#include <string.h>

static const char *const input_dtypes[] = {"float32", "int32", NULL};

static const struct gr_attr_spec input_attrs[] = {
    [GR_INPUT_DATA] = {"data", GR_ATTR_STRING, "the dataset's array that feeds this node (images, labels, ...)"},
    [GR_INPUT_SHAPE] = {"shape", GR_ATTR_INTS, "shape of one sample, without the batch axis",
                        .def = "[]", .min = 1, .max = 1e9},
    [GR_INPUT_DTYPE] = {"dtype", GR_ATTR_STRING,
                        "float32 or int32 (default: int32 for data: labels, float32 otherwise)",
                        .optional = 1, .choices = input_dtypes},
};

static enum gr_dtype input_dtype(const struct gr_attr_value *attrs) {
    if (attrs[GR_INPUT_DTYPE].present) return attrs[GR_INPUT_DTYPE].i == 1 ? GR_I32 : GR_F32;
    return strcmp(attrs[GR_INPUT_DATA].s, "labels") == 0 ? GR_I32 : GR_F32;
}

static int input_infer(struct gr_infer *inf) {
    const struct gr_attr_value *shape = &inf->attrs[GR_INPUT_SHAPE];
    if (shape->n + 1 > GR_MAX_DIMS)
        return gr_infer_fail(inf, GR_INPUT_SHAPE, "at most %d axes besides the batch", GR_MAX_DIMS - 1);
    if (!inf->attrs[GR_INPUT_DATA].s[0]) return gr_infer_fail(inf, GR_INPUT_DATA, "expected the name of an array");
    if (shape->n == 0 && strcmp(inf->attrs[GR_INPUT_DATA].s, "images") == 0)
        return gr_infer_fail(inf, GR_INPUT_SHAPE, "images need 'shape', e.g. [784] or [28, 28]");
    inf->out.rank = shape->n + 1;
    inf->out.dim[0] = inf->batch;
    for (int i = 0; i < shape->n; i++) inf->out.dim[i + 1] = shape->ints[i];
    inf->out_dtype = input_dtype(inf->attrs);
    return 0;
}

/* the runtime writes the batch into the output before forward runs */
static void input_forward(const struct gr_args *a) { (void)a; }

const struct gr_op_desc gr_op_input = {
    .name = "input",
    .summary = "out[B, shape...] = the batch's values of one array of the dataset (float32 or int32)",
    .min_inputs = 0,
    .max_inputs = 0,
    .attrs = input_attrs,
    .n_attrs = GR_INPUT_N_ATTRS,
    .infer = input_infer,
    .forward = input_forward,
    .flags = GR_OP_INPUT,
};
