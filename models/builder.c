#include "models/builder.h"

#include <stdio.h>
#include <string.h>

#include "models/init.h"
#include "models/expand.h"
#include "ops/core.h"
#include "runtime/yaml/check.h"
#include "runtime/base/ctx.h"
#include "runtime/base/text.h"
#include "runtime/host/registry.h"

/* One YAML node while the graph is being put together. */
struct decl {
    const struct gr_ynode *map;
    const char *name;
    const struct gr_op_desc *op;
    int n_in;
    const struct gr_ynode *in_node[GR_MAX_INPUTS];
    int in_decl[GR_MAX_INPUTS]; /* index into the decl array */
    struct gr_attr_value attrs[GR_MAX_ATTRS];
    const struct gr_ynode *attr_at[GR_MAX_ATTRS]; /* as written, or the override that changed it */
    int init[GR_MAX_PARAMS]; /* `init:` per parameter; -1: the op's own */
    int graph_index;
    unsigned implicit; /* bit k: input k is the node before, taken for want of `inputs` */
};

static int valid_node_name(const char *s) {
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-'))
            return 0;
    return 1;
}

/* `n` itself if an override wrote it, else the first node an override wrote
 * inside it (an item of a list, say), else `otherwise`: an error about `n`
 * names the override that changed it. */
static const struct gr_ynode *edited_or(const struct gr_ynode *n, const struct gr_ynode *otherwise) {
    const struct gr_ynode *e = n ? gr_ynode_edited(n) : NULL;
    return e ? e : otherwise;
}

/* What an error about a node as a whole points at: the node in the file, or
 * the override that changed it (its inputs first: shape errors are about
 * inputs), since the file alone did not make the error. */
static const struct gr_ynode *decl_at(const struct gr_ynode *map) {
    return edited_or(gr_ymap_get(map, "inputs"), edited_or(map, map));
}

/* name, op, inputs and attributes of one node; nothing about other nodes */
/* The node's name and its op, looked up by name. */
static int read_name_op(struct gr_ctx *ctx, const char *file, const struct gr_ynode *map, int index, struct decl *d) {
    char what[GR_ERRBUF];
    snprintf(what, sizeof what, "graph[%d]", index);
    if (gr_need_kind(ctx, file, map, GR_Y_MAP, what)) return -1;
    memset(d, 0, sizeof *d);
    d->map = map;
    d->graph_index = -1;

    const struct gr_ynode *name = gr_ymap_get(map, "name");
    if (!name) return gr_fail_node(ctx, file, map, "%s: node has no 'name'", what);
    snprintf(what, sizeof what, "graph[%d]: name", index);
    if (gr_read_string(ctx, file, name, what, &d->name)) return -1;
    if (!valid_node_name(d->name) || strlen(d->name) > 63)
        return gr_fail_node(ctx, file, name,
                            "node name '%s': use 1-63 letters, digits, '_' or '-', starting with a letter or '_'",
                            d->name);

    const struct gr_ynode *op = gr_ymap_get(map, "op");
    if (!op)
        return gr_fail_missing(ctx, file, map, gr_ymap_removed_by(map, "use") ? "use" : "op", "node '%s': no 'op'",
                               d->name);
    const char *op_name;
    snprintf(what, sizeof what, "node '%s': op", d->name);
    if (gr_read_string(ctx, file, op, what, &op_name)) return -1;
    d->op = gr_registry_find(ctx->reg, op_name);
    if (!d->op) {
        const char *near = gr_registry_suggest(ctx->reg, op_name);
        if (near) return gr_fail_node(ctx, file, op, "node '%s': unknown op '%s' (did you mean '%s'?)", d->name, op_name, near);
        return gr_fail_node(ctx, file, op, "node '%s': unknown op '%s' (`graphrun ops` lists them)", d->name, op_name);
    }
    return 0;
}

/* `inputs`: one name or a list of names, as many as the op takes. */
static int read_inputs(struct gr_ctx *ctx, const char *file, const struct gr_ynode *map, struct decl *d) {
    char what[GR_ERRBUF];
    const struct gr_ynode *inputs = gr_ymap_get(map, "inputs");
    if (inputs) {
        snprintf(what, sizeof what, "node '%s': inputs", d->name);
        if (inputs->kind == GR_Y_SCALAR) {
            d->in_node[0] = inputs; /* a single name */
            d->n_in = 1;
        } else {
            if (gr_need_kind(ctx, file, inputs, GR_Y_SEQ, what)) return -1;
            if (inputs->n > d->op->max_inputs)
                return gr_fail_node(ctx, file, inputs, "node '%s': op '%s' takes at most %d input%s, got %d", d->name,
                                    d->op->name, d->op->max_inputs, d->op->max_inputs == 1 ? "" : "s", inputs->n);
            for (int k = 0; k < inputs->n; k++) {
                const char *s;
                snprintf(what, sizeof what, "node '%s': inputs[%d]", d->name, k);
                if (gr_read_string(ctx, file, inputs->items[k], what, &s)) return -1;
                d->in_node[k] = inputs->items[k];
            }
            d->n_in = inputs->n;
        }
    }
    if (d->n_in < d->op->min_inputs || d->n_in > d->op->max_inputs) {
        char takes[64];
        if (d->op->min_inputs == d->op->max_inputs)
            snprintf(takes, sizeof takes, "%d input%s", d->op->min_inputs, d->op->min_inputs == 1 ? "" : "s");
        else snprintf(takes, sizeof takes, "%d to %d inputs", d->op->min_inputs, d->op->max_inputs);
        if (inputs && !inputs->origin && inputs->removed) /* an --unset of an input made the count */
            return gr_fail(ctx, "%s: node '%s': op '%s' takes %s, got %d", inputs->removed->origin, d->name,
                           d->op->name, takes, d->n_in);
        return gr_fail_node(ctx, file, inputs ? inputs : map, "node '%s': op '%s' takes %s, got %d", d->name,
                            d->op->name, takes, d->n_in);
    }

    return 0;
}

/* Every other key is one of the op's attributes, read by its spec; the
 * rest take their defaults. */
static int read_attrs(struct gr_ctx *ctx, const char *file, const struct gr_ynode *map, struct decl *d) {
    char what[GR_ERRBUF];
    const char *allowed[GR_MAX_ATTRS + 4];
    int n_allowed = 0;
    allowed[n_allowed++] = "name";
    allowed[n_allowed++] = "op";
    allowed[n_allowed++] = "inputs";
    if (d->op->n_params > 0) allowed[n_allowed++] = "init"; /* the op's own parameters' initializers */
    for (int a = 0; a < d->op->n_attrs; a++) allowed[n_allowed++] = d->op->attrs[a].name;
    allowed[n_allowed] = NULL;
    snprintf(what, sizeof what, "node '%s' (op %s)", d->name, d->op->name);
    if (gr_check_keys(ctx, file, map, allowed, what)) return -1;
    if (gr_init_read_key(ctx, file, d->op->n_params > 0 ? gr_ymap_get(map, "init") : NULL, d->name, d->op, d->init))
        return -1;

    for (int a = 0; a < d->op->n_attrs; a++) {
        const struct gr_attr_spec *spec = &d->op->attrs[a];
        const struct gr_ynode *v = gr_ymap_get(map, spec->name);
        snprintf(what, sizeof what, "node '%s': %s", d->name, spec->name);
        if (v) {
            if (gr_attr_read(ctx, file, spec, v, what, &d->attrs[a])) return -1;
            d->attr_at[a] = edited_or(v, v);
        } else if (spec->def) {
            if (gr_attr_default(ctx, spec, what, &d->attrs[a])) return -1;
        } else if (!spec->optional) {
            return gr_fail_missing(ctx, file, map, spec->name, "node '%s': op '%s' needs attribute '%s' (%s)", d->name,
                                   d->op->name, spec->name, spec->doc ? spec->doc : "no default");
        }
    }
    return 0;
}

static int read_decl(struct gr_ctx *ctx, const char *file, const struct gr_ynode *map, int index, struct decl *d) {
    if (read_name_op(ctx, file, map, index, d) || read_inputs(ctx, file, map, d) || read_attrs(ctx, file, map, d))
        return -1;
    return 0;
}

/* Depth-first order over the declarations: inputs before users, otherwise
 * the order of the file. Iterative, so a long chain cannot exhaust the stack. */
static int sort_decls(struct gr_ctx *ctx, const char *file, struct decl *d, int n, int *order) {
    unsigned char *state = gr_calloc(ctx, (size_t)n, 1); /* 0 new, 1 on the stack, 2 done */
    int *stack = gr_alloc(ctx, (size_t)n * sizeof *stack);
    int *next = gr_calloc(ctx, (size_t)n, sizeof *next); /* next input to visit */
    int rc = -1, n_order = 0;
    if (!state || !stack || !next) goto out;
    for (int root = 0; root < n; root++) {
        if (state[root]) continue;
        int top = 0;
        stack[top++] = root;
        state[root] = 1;
        while (top > 0) {
            int v = stack[top - 1];
            if (next[v] < d[v].n_in) {
                int u = d[v].in_decl[next[v]++];
                if (state[u] == 2) continue;
                if (state[u] == 1) {
                    /* the cycle is the stack from u up to v (each an input of the
                     * one before); print it the way data flows */
                    char path[GR_ERRBUF];
                    size_t used = 0;
                    int from = top - 1;
                    while (stack[from] != u) from--;
                    used += (size_t)snprintf(path, sizeof path, "%s", d[u].name);
                    for (int k = top - 1; k >= from && used < sizeof path; k--)
                        used += (size_t)snprintf(path + used, sizeof path - used, " -> %s", d[stack[k]].name);
                    /* an override that changed inputs on the cycle made it */
                    const struct gr_ynode *at = d[u].map;
                    for (int k = top - 1; k >= from && at == d[u].map; k--)
                        at = edited_or(gr_ymap_get(d[stack[k]].map, "inputs"), at);
                    gr_fail_node(ctx, file, at, "node '%s': the graph has a cycle: %s", d[u].name, path);
                    goto out;
                }
                state[u] = 1;
                stack[top++] = u;
            } else {
                state[v] = 2;
                order[n_order++] = v;
                top--;
            }
        }
    }
    rc = 0;
out:
    gr_free(ctx, state);
    gr_free(ctx, stack);
    gr_free(ctx, next);
    return rc;
}

/* A `param` node for weight k of node `d` (its parameters, then its state),
 * shaped as the op's infer asked: a parameter trainable, with the
 * initializer `init:` chose or the op's; state untrained, with the op's. */
static int add_param(struct gr_ctx *ctx, struct gr_graph *g, const struct decl *d, int k, const struct gr_shape *shape) {
    const struct gr_op_desc *param_op = gr_registry_find(ctx->reg, "param");
    GR_ASSERT(param_op);
    int state = k >= d->op->n_params;
    const struct gr_param_spec *ps = state ? &d->op->state[k - d->op->n_params] : &d->op->params[k];
    int init = !state && d->init[k] >= 0 ? d->init[k] : (int)ps->init;
    struct gr_attr_value pa[GR_MAX_ATTRS];
    memset(pa, 0, sizeof pa);
    pa[GR_PARAM_SHAPE].present = 1;
    pa[GR_PARAM_SHAPE].n = shape->rank;
    for (int r = 0; r < shape->rank; r++) pa[GR_PARAM_SHAPE].ints[r] = shape->dim[r];
    pa[GR_PARAM_INIT].present = 1;
    pa[GR_PARAM_INIT].i = init;
    pa[GR_PARAM_INIT].s = gr_init_names[init];
    pa[GR_PARAM_TRAINABLE].present = 1;
    pa[GR_PARAM_TRAINABLE].i = !state;
    char name[160];
    snprintf(name, sizeof name, "%s.%s", d->name, ps->name);
    int p = gr_graph_add(g, name, param_op, 0, NULL, pa);
    if (p < 0) return -1;
    g->nodes[p].shape = *shape;
    g->nodes[p].dtype = GR_F32;
    return p;
}

/* Add node `d` (its inputs already in the graph): infer its shape, then, if
 * its op owns weights or state, put their param nodes in front of it. */
static int add_decl(struct gr_ctx *ctx, struct gr_graph *g, struct decl *d, int64_t batch) {
    /* only a float output is passed on implicitly (models/expand.h) */
    for (int k = 0; k < d->n_in; k++)
        if ((d->implicit >> k & 1u) && g->nodes[d->in_decl[k]].dtype != GR_F32)
            return gr_ymap_removed_by(d->map, "inputs") /* its inputs removed by an --unset */
                       ? gr_fail_missing(ctx, g->file, d->map, "inputs", "node '%s': no 'inputs', so it takes the node "
                                         "before it, '%s', but that gives int32 (labels or indices), not floats",
                                         d->name, g->nodes[d->in_decl[k]].name)
                       : gr_fail_node(ctx, g->file, decl_at(d->map), "node '%s': no 'inputs', so it takes the node "
                                      "before it, '%s', but that gives int32 (labels or indices), not floats: name "
                                      "its input with 'inputs'", d->name, g->nodes[d->in_decl[k]].name);
    int idx = gr_graph_add(g, d->name, d->op, d->n_in, d->in_decl, d->attrs);
    if (idx < 0) return -1;
    struct gr_node *nd = &g->nodes[idx];
    nd->at = decl_at(d->map);
    memcpy(nd->attr_at, d->attr_at, sizeof nd->attr_at);
    struct gr_infer inf;
    if (gr_node_infer(g, idx, batch, 1, NULL, NULL, &inf)) return -1;
    nd->shape = inf.out;
    nd->dtype = inf.out_dtype;
    nd->saved_bytes = inf.saved_bytes;
    nd->scratch_bytes = inf.scratch_bytes;
    int n_weights = d->op->n_params + d->op->n_state;
    if (n_weights > 0) {
        struct gr_node keep = *nd;
        g->n--;
        for (int k = 0; k < n_weights; k++) {
            const struct gr_shape *shape = k < d->op->n_params ? &inf.param[k] : &inf.state[k - d->op->n_params];
            int p = add_param(ctx, g, d, k, shape);
            if (p < 0) return -1;
            keep.in[d->n_in + k] = p;
        }
        keep.n_in = d->n_in + n_weights;
        if ((idx = gr_graph_append(g, &keep)) < 0) return -1;
        for (int k = 0; k < n_weights; k++) g->nodes[keep.in[d->n_in + k]].owner = idx;
    }
    d->graph_index = idx;
    return 0;
}

/* Two nodes named alike: the error points at the later one, unless only the
 * earlier name was written by an override, which then made the clash. */
static int duplicate_name(struct gr_ctx *ctx, const char *file, const struct decl *first, const struct decl *second) {
    const struct gr_ynode *a = gr_ymap_get(first->map, "name"), *b = gr_ymap_get(second->map, "name");
    if (a->origin && !b->origin)
        return gr_fail_node(ctx, file, a, "node name '%s' is also used at line %d", a->str, second->map->line);
    if (a->origin)
        return gr_fail_node(ctx, file, b, "node name '%s' is already used by %s", b->str, a->origin);
    return gr_fail_node(ctx, file, b, "node name '%s' is already used at line %d", b->str, first->map->line);
}

/* Each input name as the index of the declaration it names. */
static int resolve_inputs(struct gr_ctx *ctx, const char *file, const struct gr_ynode *seq, struct decl *d, int n) {
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < d[i].n_in; k++) {
            const char *want = d[i].in_node[k]->str;
            int found = -1;
            for (int j = 0; j < n && found < 0; j++)
                if (strcmp(d[j].name, want) == 0) found = j;
            if (found < 0 && gr_ymap_removed_by(seq, want)) /* named by the --unset that removed it */
                return gr_fail_missing(ctx, file, seq, want, "node '%s': input '%s' names no node", d[i].name, want);
            for (int j = 0; j < n && found < 0; j++) { /* or by the one that removed or changed its name */
                const char *by = gr_ymap_removed_as(d[j].map, "name", want);
                if (by)
                    return gr_fail(ctx, "%s: node '%s': input '%s' names no node (node '%s' had that name)", by,
                                   d[i].name, want, d[j].name);
            }
            if (found < 0) {
                struct gr_suggest sg;
                gr_suggest_init(&sg, want);
                for (int j = 0; j < n; j++) gr_suggest_offer(&sg, d[j].name);
                const char *near = gr_suggest_best(&sg);
                if (near)
                    return gr_fail_node(ctx, file, d[i].in_node[k],
                                        "node '%s': input '%s' names no node (did you mean '%s'?)", d[i].name, want,
                                        near);
                return gr_fail_node(ctx, file, d[i].in_node[k], "node '%s': input '%s' names no node", d[i].name,
                                    want);
            }
            d[i].in_decl[k] = found;
        }
    }
    return 0;
}

/* A node needs a gradient when a trainable parameter's gradient flows through it. */
static void mark_grads(struct gr_graph *g) {
    for (int i = 0; i < g->n; i++) {
        struct gr_node *nd = &g->nodes[i];
        if (nd->op->flags & GR_OP_PARAM) {
            nd->needs_grad = nd->attrs[GR_PARAM_TRAINABLE].i != 0;
            continue;
        }
        nd->needs_grad = 0;
        for (int k = 0; k < nd->n_in; k++) {
            if (!gr_node_takes_grad(nd, k)) continue;
            if (g->nodes[nd->in[k]].needs_grad) nd->needs_grad = 1;
        }
        if (nd->dtype != GR_F32) nd->needs_grad = 0;
    }
}

/* The explicit list of an expansion, into g (which then holds the nodes the
 * expansion made, its nodes' positions pointing into them). */
static int build(struct gr_ctx *ctx, struct gr_graph *g, const char *file, struct gr_expansion *x, int64_t batch) {
    const struct gr_ynode *seq = x->graph;
    if (gr_need_kind(ctx, file, seq, GR_Y_SEQ, "graph")) return -1;
    if (seq->n == 0) return gr_fail_node(ctx, file, seq, "graph: no nodes");
    int n = seq->n;
    struct decl *d = gr_calloc(ctx, (size_t)n, sizeof *d);
    int *order = gr_alloc(ctx, (size_t)n * sizeof *order);
    int rc = -1;
    if (!d || !order) goto out;

    for (int i = 0; i < n; i++) {
        if (read_decl(ctx, file, seq->items[i], i, &d[i])) goto out;
        d[i].implicit = x->implicit ? x->implicit[i] : 0;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(d[i].name, d[j].name) == 0) {
                duplicate_name(ctx, file, &d[j], &d[i]);
                goto out;
            }
    if (resolve_inputs(ctx, file, seq, d, n) || sort_decls(ctx, file, d, n, order)) goto out;

    gr_graph_free(g);
    gr_graph_init(g, ctx, file);
    g->made = x->doc;
    x->doc = NULL;
    g->batch = batch;
    for (int o = 0; o < n; o++) {
        struct decl *e = &d[order[o]];
        for (int k = 0; k < e->n_in; k++) e->in_decl[k] = d[e->in_decl[k]].graph_index;
        if (add_decl(ctx, g, e, batch)) goto out;
    }
    mark_grads(g);
    rc = 0;
out:
    gr_free(ctx, d);
    gr_free(ctx, order);
    return rc;
}

int gr_build_model(struct gr_ctx *ctx, struct gr_graph *g, const char *file, const struct gr_ynode *graph,
                   const struct gr_ynode *blocks, int64_t batch) {
    struct gr_expansion x;
    if (gr_expand_graph(ctx, file, graph, blocks, &x)) return -1;
    int rc = build(ctx, g, file, &x, batch);
    gr_expansion_free(ctx, &x);
    return rc;
}

int gr_build_graph(struct gr_ctx *ctx, struct gr_graph *g, const char *file, const struct gr_ynode *seq,
                   int64_t batch) {
    return gr_build_model(ctx, g, file, seq, NULL, batch);
}
