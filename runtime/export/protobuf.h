/* An ONNX model (runtime/export/model.h) written as protocol buffers. */
#ifndef GR_EXPORT_PROTOBUF_H
#define GR_EXPORT_PROTOBUF_H

struct gr_onnx_model;

/* Write the model to `path` through gr_open_output (runtime/base/fs.h): a
 * temporary file renamed over it, so a failed export leaves any earlier
 * file whole, or straight into a device or pipe; -1 with ctx->err set. */
int gr_onnx_write(struct gr_onnx_model *m, const char *path);

#endif
