/* graphrun export: a session's evaluation graph as an ONNX model.
 *
 * The nodes eval.logits depends on are written in graph order: each
 * `input` node as a graph input whose axis 0 (the batch) is dynamic, each
 * `param` node as an initializer holding the session's values, and every
 * other node by its op's lowering (struct gr_op_desc's `lower`, given a
 * struct gr_lower and the functions of struct gr_onnx: include/graphrun/
 * plugin.h). An op without one stops the export with one line naming the
 * node and the op. The model's outputs are the logits and, on request,
 * their softmax; its metadata holds graphrun's version, the config's text
 * and the checkpoint's step. Opset GR_ONNX_OPSET (runtime/export/model.h). */
#ifndef GR_EXPORT_EXPORT_H
#define GR_EXPORT_EXPORT_H

#include <stdint.h>

struct gr_session;

struct gr_export_opts {
    int softmax;         /* also output softmax(logits) as "probabilities" */
    const char *version; /* graphrun's version, for the metadata */
    int64_t step;        /* the checkpoint's step, for the metadata; < 0: none */
};

/* Write s's evaluation graph, with its parameters as they are, to `path`;
 * 0, or -1 with one line in ctx->err. */
int gr_export_onnx(struct gr_session *s, const char *path, const struct gr_export_opts *o);

#endif
