/* The ONNX model as protocol buffers (onnx.proto, proto2), written by hand:
 * the few messages graphrun needs are varints, fixed 32-bit floats and
 * length-delimited strings and submessages, which a generated encoder
 * (protobuf-c) would cost a build dependency and a code generator for.
 *
 * A submessage is preceded by its length, so each message is walked twice:
 * once counting its bytes, once writing them (a writer without a sink only
 * counts). Counting a message counts its submessages once each, so writing
 * costs the model's size times its depth (5), in metadata; tensor data is
 * counted by arithmetic and streamed from where it lies, never copied.
 *
 * Field numbers are onnx.proto's; repeated fields that onnx.proto does not
 * declare packed (a tensor's dims, an attribute's ints and floats) are
 * written one element per tag, as a proto2 writer does. */
#include "runtime/export/protobuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/ctx.h"
#include "runtime/base/fs.h"
#include "runtime/export/model.h"

enum { WIRE_VARINT = 0, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

struct pb_sink {
    struct gr_ctx *ctx;
    int fd, failed;
    const char *path;
    size_t used;
    unsigned char buf[1 << 16];
};

struct pb {
    struct pb_sink *sink; /* NULL: count only */
    uint64_t n;           /* bytes counted or written */
};

static void pb_flush(struct pb_sink *s) {
    if (!s->failed && s->used && gr_write_all(s->ctx, s->fd, s->buf, s->used, s->path, NULL)) s->failed = 1;
    s->used = 0;
}

static void pb_put(struct pb *w, const void *p, size_t len) {
    w->n += len;
    struct pb_sink *s = w->sink;
    if (!s || !len) return;
    if (len > sizeof s->buf - s->used) pb_flush(s);
    if (len > sizeof s->buf) {
        if (!s->failed && gr_write_all(s->ctx, s->fd, p, len, s->path, NULL)) s->failed = 1;
        return;
    }
    memcpy(s->buf + s->used, p, len);
    s->used += len;
}

static void pb_varint(struct pb *w, uint64_t v) {
    unsigned char b[10];
    size_t n = 0;
    do {
        b[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    pb_put(w, b, n);
}

static void pb_tag(struct pb *w, int field, int wire) { pb_varint(w, (uint64_t)field << 3 | (uint64_t)wire); }

/* int64 and int32 fields: negative values as 10-byte two's complement */
static void pb_int(struct pb *w, int field, int64_t v) {
    pb_tag(w, field, WIRE_VARINT);
    pb_varint(w, (uint64_t)v);
}

static void pb_float(struct pb *w, int field, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
    pb_tag(w, field, WIRE_FIXED32);
    pb_put(w, b, 4);
}

static void pb_bytes(struct pb *w, int field, const void *p, size_t len) {
    pb_tag(w, field, WIRE_LEN);
    pb_varint(w, len);
    pb_put(w, p, len);
}

static void pb_string(struct pb *w, int field, const char *s) { pb_bytes(w, field, s, strlen(s)); }

typedef void (*pb_msg_fn)(struct pb *w, const void *msg);

static void pb_msg(struct pb *w, int field, pb_msg_fn fn, const void *msg) {
    struct pb count = {NULL, 0};
    fn(&count, msg);
    pb_tag(w, field, WIRE_LEN);
    pb_varint(w, count.n);
    if (w->sink) fn(w, msg);
    else w->n += count.n;
}

/* count elements of size 4 or 8, little-endian whatever this machine's order */
static void pb_raw(struct pb *w, int field, const void *data, int64_t count, size_t size) {
    uint64_t len = (uint64_t)count * size;
    pb_tag(w, field, WIRE_LEN);
    pb_varint(w, len);
    const uint16_t probe = 1;
    unsigned char first;
    memcpy(&first, &probe, 1);
    if (!w->sink || first == 1) {
        pb_put(w, data, (size_t)len);
        return;
    }
    unsigned char b[8];
    for (int64_t i = 0; i < count; i++) {
        const unsigned char *e = (const unsigned char *)data + (size_t)i * size;
        for (size_t k = 0; k < size; k++) b[k] = e[size - 1 - k];
        pb_put(w, b, size);
    }
}

/* ---- the messages ---------------------------------------------------------------- */

/* TensorProto: dims 1, data_type 2, name 8, raw_data 9 */
static void w_tensor(struct pb *w, const void *msg) {
    const struct gr_onnx_init *t = msg;
    for (int k = 0; k < t->rank; k++) pb_int(w, 1, t->dims[k]);
    pb_int(w, 2, t->type);
    if (t->name) pb_string(w, 8, t->name);
    pb_raw(w, 9, t->data, t->count, gr_onnx_type_size(t->type));
}

/* AttributeProto: name 1, f 2, i 3, s 4, t 5, floats 7, ints 8, type 20 */
static void w_attr(struct pb *w, const void *msg) {
    const struct gr_onnx_attr *a = msg;
    pb_string(w, 1, a->name);
    switch (a->type) {
    case GR_ONNX_ATTR_FLOAT: pb_float(w, 2, a->f); break;
    case GR_ONNX_ATTR_INT: pb_int(w, 3, a->i); break;
    case GR_ONNX_ATTR_STRING: pb_string(w, 4, a->s); break;
    case GR_ONNX_ATTR_TENSOR: {
        struct gr_onnx_init t = {.name = NULL, .type = GR_ONNX_FLOAT, .rank = a->n, .count = 1, .data = a->floats};
        for (int k = 0; k < a->n; k++) t.count *= (t.dims[k] = a->ints[k]);
        pb_msg(w, 5, w_tensor, &t);
        break;
    }
    case GR_ONNX_ATTR_FLOATS:
        for (int k = 0; k < a->n; k++) pb_float(w, 7, a->floats[k]);
        break;
    case GR_ONNX_ATTR_INTS:
        for (int k = 0; k < a->n; k++) pb_int(w, 8, a->ints[k]);
        break;
    }
    pb_int(w, 20, a->type);
}

/* NodeProto: input 1, output 2, name 3, op_type 4, attribute 5 */
static void w_node(struct pb *w, const void *msg) {
    const struct gr_onnx_node *nd = msg;
    for (int k = 0; k < nd->n_in; k++) pb_string(w, 1, nd->in[k]);
    for (int k = 0; k < nd->n_out; k++) pb_string(w, 2, nd->out[k]);
    pb_string(w, 3, nd->name);
    pb_string(w, 4, nd->op_type);
    for (int k = 0; k < nd->n_attrs; k++) pb_msg(w, 5, w_attr, &nd->attrs[k]);
}

/* TensorShapeProto.Dimension: dim_value 1 or dim_param 2 */
struct dim {
    int64_t value;
    const char *param;
};
static void w_dim(struct pb *w, const void *msg) {
    const struct dim *d = msg;
    if (d->param) pb_string(w, 2, d->param);
    else pb_int(w, 1, d->value);
}

/* TensorShapeProto: dim 1 */
static void w_shape(struct pb *w, const void *msg) {
    const struct gr_onnx_value *v = msg;
    for (int k = 0; k < v->rank; k++) {
        struct dim d = {v->dims[k], k == 0 && v->batch ? "batch" : NULL};
        pb_msg(w, 1, w_dim, &d);
    }
}

/* TypeProto.Tensor: elem_type 1, shape 2 */
static void w_tensor_type(struct pb *w, const void *msg) {
    const struct gr_onnx_value *v = msg;
    pb_int(w, 1, v->type);
    pb_msg(w, 2, w_shape, v);
}

/* TypeProto: tensor_type 1 */
static void w_type(struct pb *w, const void *msg) { pb_msg(w, 1, w_tensor_type, msg); }

/* ValueInfoProto: name 1, type 2 */
static void w_value(struct pb *w, const void *msg) {
    const struct gr_onnx_value *v = msg;
    pb_string(w, 1, v->name);
    pb_msg(w, 2, w_type, v);
}

/* GraphProto: node 1, name 2, initializer 5, doc_string 10, input 11, output 12 */
static void w_graph(struct pb *w, const void *msg) {
    const struct gr_onnx_model *m = msg;
    for (int i = 0; i < m->n_nodes; i++) pb_msg(w, 1, w_node, &m->nodes[i]);
    pb_string(w, 2, m->graph_name);
    for (int i = 0; i < m->n_inits; i++)
        if (m->inits[i].used) pb_msg(w, 5, w_tensor, &m->inits[i]);
    for (int i = 0; i < m->n_inputs; i++) pb_msg(w, 11, w_value, &m->inputs[i]);
    for (int i = 0; i < m->n_outputs; i++) pb_msg(w, 12, w_value, &m->outputs[i]);
}

/* OperatorSetIdProto: version 2 (domain 1 left out: ai.onnx) */
static void w_opset(struct pb *w, const void *msg) {
    (void)msg;
    pb_int(w, 2, GR_ONNX_OPSET);
}

/* StringStringEntryProto: key 1, value 2 */
static void w_entry(struct pb *w, const void *msg) {
    const char *const *kv = msg;
    pb_string(w, 1, kv[0]);
    pb_string(w, 2, kv[1]);
}

/* ModelProto: ir_version 1, producer_name 2, producer_version 3, doc_string 6,
 * graph 7, opset_import 8, metadata_props 14 */
static void w_model(struct pb *w, const struct gr_onnx_model *m) {
    pb_int(w, 1, GR_ONNX_IR_VERSION);
    pb_string(w, 2, "graphrun");
    pb_string(w, 3, m->producer_version);
    if (m->doc) pb_string(w, 6, m->doc);
    pb_msg(w, 7, w_graph, m);
    pb_msg(w, 8, w_opset, NULL);
    for (int i = 0; i < m->n_meta; i++) {
        const char *kv[2] = {m->meta_key[i], m->meta_value[i]};
        pb_msg(w, 14, w_entry, kv);
    }
}

int gr_onnx_write(struct gr_onnx_model *m, const char *path) {
    struct gr_output *out = gr_alloc(m->ctx, sizeof *out);
    struct pb_sink *sink = gr_alloc(m->ctx, sizeof *sink);
    int rc = -1;
    if (out && sink && gr_open_output(m->ctx, out, path) == 0) {
        *sink = (struct pb_sink){.ctx = m->ctx, .fd = out->fd, .path = path};
        struct pb w = {sink, 0};
        w_model(&w, m);
        pb_flush(sink);
        if (sink->failed) gr_discard_output(out);
        else rc = gr_commit_output(m->ctx, out);
    }
    gr_free(m->ctx, out);
    gr_free(m->ctx, sink);
    return rc;
}
