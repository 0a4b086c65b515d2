#include "runtime/export/export.h"

#include <stdio.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/export/model.h"
#include "runtime/export/protobuf.h"
#include "runtime/session/state.h"

/* The export of one session; what the functions of struct gr_onnx reach
 * through lw->onnx_ctx. */
struct export_job {
    struct gr_onnx_model m;
    const struct gr_graph *g;
    int node; /* the graphrun node being lowered */
    int made; /* ONNX nodes made for it so far */
};

/* A failed call into the model leaves its message in ctx->err; a lowering
 * reports it through lw->err. */
static int pass_error(struct gr_lower *lw, const struct export_job *j) {
    size_t n = strnlen(j->m.ctx->err, sizeof lw->err - 1);
    memcpy(lw->err, j->m.ctx->err, n);
    lw->err[n] = 0;
    return -1;
}

static int api_node(struct gr_lower *lw, const char *op_type, int n_in, const char *const *in, int n_out,
                    const char *const *out, int n_attrs, const struct gr_onnx_attr *attrs) {
    struct export_job *j = lw->onnx_ctx;
    char name[160];
    snprintf(name, sizeof name, "%s/%d", lw->node, j->made++);
    if (gr_onnx_add_node(&j->m, name, op_type, n_in, in, n_out, out, n_attrs, attrs)) return pass_error(lw, j);
    return 0;
}

static const char *api_fresh(struct gr_lower *lw, const char *hint) {
    struct export_job *j = lw->onnx_ctx;
    char base[192];
    snprintf(base, sizeof base, "%s/%s", lw->node, hint && *hint ? hint : "t");
    const char *name = gr_onnx_name_fresh(&j->m, base);
    if (!name) pass_error(lw, j);
    return name;
}

static void *api_initializer(struct gr_lower *lw, const char *hint, enum gr_onnx_type type, int rank,
                             const int64_t *dims, const char **name) {
    struct export_job *j = lw->onnx_ctx;
    if (type != GR_ONNX_FLOAT && type != GR_ONNX_INT32 && type != GR_ONNX_INT64)
        return gr_lower_fail(lw, "initializer '%s': element type %d is not one graphrun writes", hint, (int)type), NULL;
    if (rank < 0 || rank > GR_MAX_DIMS || (rank && !dims))
        return gr_lower_fail(lw, "initializer '%s': rank %d is outside [0, %d]", hint, rank, GR_MAX_DIMS), NULL;
    int64_t count = 1;
    for (int k = 0; k < rank; k++)
        if (gr_size_mul(count, dims[k], &count) || count > ((int64_t)1 << 40))
            return gr_lower_fail(lw, "initializer '%s': a dimension is negative or the tensor too large", hint), NULL;
    const char *n = api_fresh(lw, hint);
    void *data = n ? gr_onnx_alloc(&j->m, (size_t)count * gr_onnx_type_size(type)) : NULL;
    if (!data || gr_onnx_add_init(&j->m, n, type, rank, dims, data)) {
        if (n) pass_error(lw, j);
        return NULL;
    }
    *name = n;
    return data;
}

static const struct gr_onnx onnx_api = {
    .size = sizeof(struct gr_onnx),
    .opset = GR_ONNX_OPSET,
    .node = api_node,
    .fresh = api_fresh,
    .initializer = api_initializer,
};

static enum gr_onnx_type onnx_type(enum gr_dtype t) { return t == GR_I32 ? GR_ONNX_INT32 : GR_ONNX_FLOAT; }

/* An input node: a graph input of its shape with the batch dynamic. */
static int add_input(struct export_job *j, const struct gr_node *nd) {
    struct gr_onnx_model *m = &j->m;
    if (m->n_inputs == (int)(sizeof m->inputs / sizeof m->inputs[0]))
        return gr_fail(m->ctx, "%s: more input nodes than graphrun export writes", j->g->file);
    struct gr_onnx_value *v = &m->inputs[m->n_inputs];
    if (!(v->name = gr_onnx_name_take(m, nd->name, 1))) return -1;
    v->type = onnx_type(nd->dtype);
    v->rank = nd->shape.rank;
    v->batch = 1;
    memcpy(v->dims, nd->shape.dim, sizeof v->dims);
    m->n_inputs++;
    return 0;
}

static void lower_args(const struct export_job *j, int i, struct gr_lower *lw) {
    const struct gr_graph *g = j->g;
    const struct gr_node *nd = &g->nodes[i];
    memset(lw, 0, sizeof *lw);
    lw->onnx = &onnx_api;
    lw->onnx_ctx = (void *)j;
    lw->node = nd->name;
    lw->n_in = nd->n_in;
    for (int k = 0; k < nd->n_in; k++) {
        const struct gr_node *src = &g->nodes[nd->in[k]];
        lw->in[k] = src->name;
        lw->in_shape[k] = src->shape;
        lw->in_dtype[k] = src->dtype;
        lw->in_value[k] = src->op->flags & GR_OP_PARAM ? g->param + src->param_offset : NULL;
    }
    lw->out = nd->name;
    lw->out_shape = nd->shape;
    lw->out_dtype = nd->dtype;
    lw->attrs = nd->attrs;
}

static int lower_node(struct export_job *j, int i) {
    const struct gr_graph *g = j->g;
    const struct gr_node *nd = &g->nodes[i];
    if (nd->op->flags & GR_OP_INPUT) return add_input(j, nd);
    if (nd->op->flags & GR_OP_PARAM)
        return gr_onnx_add_init(&j->m, nd->name, GR_ONNX_FLOAT, nd->shape.rank, nd->shape.dim,
                                g->param + nd->param_offset);
    if (!nd->op->lower)
        return gr_node_fail(g, i, -1, "op '%s' has no ONNX lowering, so graphrun export cannot write this graph",
                            nd->op->name);
    struct gr_lower lw;
    lower_args(j, i, &lw);
    j->node = i;
    j->made = 0;
    if (nd->op->lower(&lw)) {
        lw.err[sizeof lw.err - 1] = 0;
        return gr_node_fail(g, i, -1, "cannot export op '%s': %s", nd->op->name,
                            *lw.err ? lw.err : "its lowering failed without a message");
    }
    if (gr_onnx_name_state(&j->m, nd->name) != 2)
        return gr_node_fail(g, i, -1, "op '%s': its ONNX lowering did not write the node's value '%s'", nd->op->name,
                            nd->name);
    return 0;
}

/* The graph's outputs: the logits [batch, C], and their softmax. */
static int add_outputs(struct export_job *j, int logits, int softmax) {
    struct gr_onnx_model *m = &j->m;
    const struct gr_node *nd = &j->g->nodes[logits];
    struct gr_onnx_value v = {.name = nd->name, .type = GR_ONNX_FLOAT, .rank = 2, .batch = 1,
                              .dims = {nd->shape.dim[0], nd->shape.dim[1]}};
    m->outputs[m->n_outputs++] = v;
    if (!softmax) return 0;
    const char *p = gr_onnx_name_fresh(m, "probabilities");
    struct gr_onnx_attr axis = gr_onnx_int("axis", -1);
    const char *in[1] = {nd->name}, *out[1] = {p};
    char name[96];
    snprintf(name, sizeof name, "%s/softmax", nd->name); /* no lowering's node name ends in letters */
    if (!p || gr_onnx_add_node(m, name, "Softmax", 1, in, 1, out, 1, &axis)) return -1;
    v.name = p;
    m->outputs[m->n_outputs++] = v;
    return 0;
}

/* graph name, doc string and metadata */
static int describe(struct export_job *j, const struct gr_session *s, const struct gr_export_opts *o) {
    struct gr_onnx_model *m = &j->m;
    const char *path = s->cfg->path, *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    char doc[512], step[32];
    snprintf(step, sizeof step, "%lld", (long long)o->step);
    snprintf(doc, sizeof doc, "%s, exported by graphrun %s%s%s", base, o->version, o->step >= 0 ? " from the checkpoint of step " : "",
             o->step >= 0 ? step : "");
    m->graph_name = gr_onnx_strndup(m, base, dot && dot != base ? (size_t)(dot - base) : strlen(base));
    m->doc = gr_onnx_strndup(m, doc, strlen(doc));
    m->producer_version = o->version;
    const char *keys[] = {"graphrun_version", "graphrun_config", "graphrun_step"};
    const char *values[] = {o->version, s->cfg->text ? s->cfg->text : "", step};
    for (int k = 0; k < (o->step >= 0 ? 3 : 2); k++) {
        m->meta_key[m->n_meta] = keys[k];
        if (!(m->meta_value[m->n_meta++] = gr_onnx_strndup(m, values[k], strlen(values[k])))) return -1;
    }
    return m->graph_name && m->doc ? 0 : -1;
}

/* Every node the logits depend on, in graph order, into the model. */
static int lower_graph(struct export_job *j, int logits) {
    const struct gr_graph *g = j->g;
    char *need = gr_calloc(j->m.ctx, (size_t)g->n, 1);
    if (!need) return -1;
    need[logits] = 1;
    for (int i = logits; i >= 0; i--)
        if (need[i])
            for (int k = 0; k < g->nodes[i].n_in; k++) need[g->nodes[i].in[k]] = 1;
    int rc = 0;
    /* the nodes' names first, so that no made name takes one */
    for (int i = 0; i < g->n && rc == 0; i++)
        if (!gr_onnx_name_take(&j->m, g->nodes[i].name, 0)) rc = -1;
    for (int i = 0; i <= logits && rc == 0; i++)
        if (need[i]) rc = lower_node(j, i);
    gr_free(j->m.ctx, need);
    return rc;
}

int gr_export_onnx(struct gr_session *s, const char *path, const struct gr_export_opts *o) {
    GR_ASSERT(s->logits >= 0 && s->g.param);
    struct export_job j;
    memset(&j, 0, sizeof j);
    gr_onnx_model_init(&j.m, s->ctx);
    j.g = &s->g;
    int rc = lower_graph(&j, s->logits);
    if (rc == 0) rc = add_outputs(&j, s->logits, o->softmax);
    if (rc == 0) rc = describe(&j, s, o);
    if (rc == 0) {
        gr_onnx_mark_used(&j.m);
        rc = gr_onnx_write(&j.m, path);
    }
    gr_onnx_model_free(&j.m);
    return rc;
}
