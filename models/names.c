/* The expanded nodes named (models/expand.h: written, made from a block or
 * an activation, or `<op>_<n>`), checked where only the expansion knows
 * what a node came from, and written as the explicit node list. */
#include <stdio.h>
#include <string.h>

#include "models/expand_int.h"
#include "runtime/base/ctx.h"
#include "runtime/base/text.h"
#include "runtime/host/registry.h"
#include "runtime/yaml/check.h"

/* Names to ints, open addressing. */
struct xtable {
    const char **key;
    int *val;
    size_t cap;
};

static struct xtable *table_new(struct xp *p, size_t n) {
    struct xtable *t = xp_scratch(p, sizeof *t);
    if (!t) return NULL;
    for (t->cap = 64; t->cap < 2 * n + 2; t->cap *= 2) {}
    t->key = xp_scratch(p, t->cap * sizeof *t->key);
    t->val = xp_scratch(p, t->cap * sizeof *t->val);
    return t->key && t->val ? t : NULL;
}

/* The slot of `key`: its value, or a free slot (key NULL) to take. */
static size_t table_slot(const struct xtable *t, const char *key) {
    size_t h = 14695981039346656037u;
    for (const char *c = key; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211u;
    for (h &= t->cap - 1; t->key[h] && strcmp(t->key[h], key); h = (h + 1) & (t->cap - 1)) {}
    return h;
}

static int name_owner(const struct xp *p, const char *name) {
    size_t h = table_slot(p->names, name);
    return p->names->key[h] ? p->names->val[h] : -1;
}

static void name_take(struct xp *p, const char *name, int node) {
    size_t h = table_slot(p->names, name);
    if (p->names->key[h]) return; /* the first keeps it */
    p->names->key[h] = name;
    p->names->val[h] = node;
}

/* A name written inside a block means the instance's node of that name, if
 * it has one; otherwise it is a name of the graph, kept as written. */
static void resolve(struct xref *r) {
    if (r->node >= 0 || !r->name || !r->scope) return;
    for (int k = 0; k < r->scope->n_local; k++)
        if (!strcmp(r->scope->local[k], r->name)) {
            r->node = r->scope->local_node[k];
            return;
        }
}

/* The name of an unnamed node: its activation's, or `<op>_<n>`. */
static const char *made_name(struct xp *p, struct xtable *counts, int i) {
    struct xnode *x = &p->x[i];
    if (x->layer >= 0) {
        x->how = XN_ACTIVATION;
        x->name_at = x->op ? x->op : x->act;
        const char *op = x->op && x->op->kind == GR_Y_SCALAR ? x->op->str : "activation";
        return xp_fmt(p, "%s_%s", p->x[x->layer].name, op);
    }
    x->how = XN_GENERATED;
    x->name_at = x->map;
    size_t h = table_slot(counts, x->op->str);
    if (!counts->key[h]) counts->key[h] = x->op->str;
    for (;;) {
        const char *name = xp_fmt(p, "%s_%d", x->op->str, ++counts->val[h]);
        if (!name || name_owner(p, name) < 0) return name;
    }
}

int xp_name(struct xp *p) {
    for (int i = 0; i < p->n; i++) {
        resolve(&p->x[i].prev);
        for (int k = 0; k < p->x[i].n_in; k++) resolve(&p->x[i].in[k]);
    }
    struct xtable *counts = table_new(p, (size_t)p->n);
    if (!counts || !(p->names = table_new(p, (size_t)p->n))) return -1;
    for (int i = 0; i < p->n; i++)
        if (p->x[i].name) name_take(p, p->x[i].name, i);
    for (int i = 0; i < p->n; i++) {
        if (p->x[i].name) continue;
        const char *name = made_name(p, counts, i);
        if (!name) return -1;
        p->x[i].name = name;
        name_take(p, name, i);
    }
    /* a name inside a block that is neither the instance's nor the graph's,
     * where an --unset removed the block's node of that name: named by it */
    for (int i = 0; i < p->n; i++)
        for (int k = 0; k < p->x[i].n_in; k++) {
            const struct xref *r = &p->x[i].in[k];
            if (r->node >= 0 || !r->name || !r->scope || name_owner(p, r->name) >= 0) continue;
            const struct gr_ynode *list = r->scope->block->graph;
            if (gr_ymap_removed_by(list, r->name))
                return gr_fail_missing(p->ctx, p->file, list, r->name, "node '%s': input '%s' names no node",
                                       p->x[i].name, r->name);
        }
    return 0;
}

/* ---- checks ---------------------------------------------------------------- */

static const struct gr_ynode *name_at(const struct xnode *x) { return x->name_at ? x->name_at : x->map; }

/* How node i came by its name, for a message about it. */
static const char *how(struct xp *p, int i) {
    const struct xnode *x = &p->x[i];
    switch (x->how) {
    case XN_BLOCK: return xp_fmt(p, " (node '%s' of block '%s')", x->name_at->str, x->scope->block->name);
    case XN_OUTPUT: return " (the last node of a use)";
    case XN_ACTIVATION: return xp_fmt(p, " (made for the activation of node '%s')", p->x[x->layer].name);
    case XN_GENERATED: return " (made for a node without one)";
    default: return "";
    }
}

/* Two nodes of one name: the builder reports two written in the graph;
 * the expansion, a name it made. */
static int check_unique(struct xp *p, int i) {
    int first = name_owner(p, p->x[i].name);
    if (first == i || (p->x[i].how == XN_WRITTEN && p->x[first].how == XN_WRITTEN)) return 0;
    const struct gr_ynode *mine = name_at(&p->x[i]), *theirs = name_at(&p->x[first]);
    /* only the first name came from an override ("--set ..."; a block's
     * nodes have an origin too, their use): the override made the clash */
    if (theirs && theirs->origin && !strncmp(theirs->origin, "--", 2) && !(mine && mine->origin) &&
        !gr_ymap_removed_as(p->x[first].map, "name", p->x[i].name)) /* and it changed the name */
        return gr_fail_node(p->ctx, p->file, theirs, "node name '%s'%s is also used at %s%s", p->x[i].name,
                            how(p, first), xp_where(p, mine), how(p, i));
    return gr_fail_node(p->ctx, p->file, mine, "node name '%s'%s is already used at %s%s", p->x[i].name, how(p, i),
                        xp_where(p, theirs), how(p, first));
}

/* A layer's `activation`: on an op with weights, not a recurrent one. */
static int check_layer(struct xp *p, const struct xnode *x) {
    static const char *const recurrent[] = {"lstm", "gru", "rnn"};
    if (!x->desc) return 0; /* an unknown op: the builder says so */
    for (int k = 0; k < 3; k++)
        if (!strcmp(x->desc->name, recurrent[k]))
            return gr_fail_node(p->ctx, p->file, x->act, "node '%s': activation: a recurrent layer's activation is "
                                "its cell's (tanh), not a choice; to transform its outputs, write the op as a node of "
                                "its own", x->name);
    if (x->desc->n_params == 0 || x->desc->min_inputs != 1)
        return gr_fail_node(p->ctx, p->file, x->act, "node '%s': activation: op '%s' is not a layer (an op of one "
                            "input with weights, such as dense or conv2d); write the activation as a node of its own",
                            x->name, x->desc->name);
    return 0;
}

/* The op an activation names: one input, no weights. */
static int check_activation(struct xp *p, const struct xnode *x) {
    const char *layer = p->x[x->layer].name, *op;
    const struct gr_ynode *in = gr_ymap_get(x->act, "inputs");
    char w[GR_ERRBUF];
    snprintf(w, sizeof w, "node '%s': activation", layer);
    if (x->act->kind == GR_Y_SEQ)
        return gr_fail_node(p->ctx, p->file, x->act, "%s: expected an op name or a mapping with 'op', got a list", w);
    if (!x->op) return gr_fail_node(p->ctx, p->file, x->act, "%s: no 'op'", w);
    if (in) return gr_fail_node(p->ctx, p->file, in, "%s: its input is the layer: leave 'inputs' out", w);
    if (gr_read_string(p->ctx, p->file, x->op, w, &op)) return -1;
    if (!x->desc) {
        const char *near = gr_registry_suggest(p->ctx->reg, op);
        return gr_fail_node(p->ctx, p->file, x->op, "%s: unknown op '%s'%s%s%s", w, op, near ? " (did you mean '" : "",
                            near ? near : "", near ? "'?)" : "");
    }
    if (x->desc->min_inputs != 1 || x->desc->max_inputs != 1 || x->desc->n_params != 0)
        return gr_fail_node(p->ctx, p->file, x->op, "%s: op '%s' is not an activation (an op of one input without "
                            "weights: relu, tanh, sigmoid, gelu, leaky_relu, softmax, ...)", w, op);
    return 0;
}

static int check_node(struct xp *p, int i) {
    const struct xnode *x = &p->x[i];
    if (check_unique(p, i)) return -1;
    if (x->layer >= 0) return check_activation(p, x);
    if (x->act && check_layer(p, x)) return -1;
    if (x->desc && x->desc->min_inputs >= 2 && !gr_ymap_get(x->map, "inputs"))
        return gr_fail_missing(p->ctx, p->file, x->map, "inputs", "node '%s': op '%s' takes %d inputs: name them "
                               "with 'inputs' (only a single input is taken from the node before)", x->name,
                               x->desc->name, x->desc->min_inputs);
    if (x->takes_prev && x->prev.node < 0 && !x->prev.name)
        return gr_fail_node(p->ctx, p->file, x->map, "node '%s': no 'inputs', and no node is written before it",
                            x->name);
    for (int k = 0; k < x->n_in; k++)
        if (x->in[k].node < 0 && !x->in[k].name)
            return gr_fail_node(p->ctx, p->file, x->in[k].at, "node '%s': $input: nothing feeds the block (its use "
                                "has no 'inputs', and no node is written before it)", x->name);
    return 0;
}

/* ---- the explicit list ----------------------------------------------------- */

static struct gr_ynode *scalar_at(struct xp *p, const char *s, const struct gr_ynode *at) {
    struct gr_ynode *n = s ? xp_node(p, GR_Y_SCALAR, at) : NULL;
    if (n) n->str = s;
    return n;
}

static int put(struct gr_ynode *m, struct gr_ynode *key, struct gr_ynode *value) {
    if (!key || !value) return -1;
    m->items[2 * m->n] = key;
    m->items[2 * m->n + 1] = value;
    m->n++;
    return 0;
}

/* `inputs` rebuilt from references; bit k of *mask set for an implicit one. */
static struct gr_ynode *inputs_list(struct xp *p, const struct gr_ynode *at, const struct xref *r, int n,
                                    unsigned *mask) {
    struct gr_ynode *seq = xp_node(p, GR_Y_SEQ, at);
    if (!seq || !(seq->items = gr_ydoc_alloc(p->doc, (size_t)(n ? n : 1) * sizeof *seq->items))) return NULL;
    for (int k = 0; k < n; k++, seq->n++) {
        const char *name = r[k].node >= 0 ? p->x[r[k].node].name : r[k].name;
        if (!(seq->items[k] = scalar_at(p, name, r[k].at ? r[k].at : at))) return NULL;
        if (r[k].implicit && k < 32) *mask |= 1u << k;
    }
    return seq;
}

/* The node after a layer: name, op, the layer as input, its attributes. */
static struct gr_ynode *activation_map(struct xp *p, const struct xnode *x) {
    struct gr_ynode *m = xp_node(p, GR_Y_MAP, x->act);
    int pairs = x->act->kind == GR_Y_MAP ? x->act->n : 0;
    if (!m || !(m->items = gr_ydoc_alloc(p->doc, (size_t)(2 * pairs + 6) * sizeof *m->items))) return NULL;
    struct xref layer = {.node = x->layer, .at = x->act};
    unsigned none = 0;
    if (put(m, scalar_at(p, "name", x->act), scalar_at(p, x->name, name_at(x))) ||
        put(m, scalar_at(p, "op", x->act), x->op) || put(m, scalar_at(p, "inputs", x->act),
                                                          inputs_list(p, x->act, &layer, 1, &none)))
        return NULL;
    for (int k = 0; k < pairs; k++) {
        const char *key = gr_ymap_key(x->act, k)->str;
        if (strcmp(key, "name") && strcmp(key, "op") && put(m, gr_ymap_key(x->act, k), gr_ymap_val(x->act, k)))
            return NULL;
    }
    return m;
}

/* A node written anew: its name, op and inputs first, then the rest as
 * written (without `activation`, which is now a node of its own). */
static struct gr_ynode *node_map(struct xp *p, const struct xnode *x, unsigned *mask) {
    struct gr_ynode *m = xp_node(p, GR_Y_MAP, x->map), *op = gr_ymap_get(x->map, "op");
    struct gr_ynode *inputs = gr_ymap_get(x->map, "inputs");
    if (!m || !(m->items = gr_ydoc_alloc(p->doc, (size_t)(2 * x->map->n + 4) * sizeof *m->items))) return NULL;
    if (put(m, scalar_at(p, "name", x->map), scalar_at(p, x->name, name_at(x)))) return NULL;
    if (op && put(m, scalar_at(p, "op", op), op)) return NULL;
    if (inputs) inputs = x->n_in >= 0 ? inputs_list(p, inputs, x->in, x->n_in, mask) : inputs;
    else if (x->takes_prev) inputs = inputs_list(p, x->map, &x->prev, 1, mask);
    if (inputs && put(m, scalar_at(p, "inputs", inputs), inputs)) return NULL;
    for (int k = 0; k < x->map->n; k++) {
        const char *key = gr_ymap_key(x->map, k)->str;
        if (!strcmp(key, "name") || !strcmp(key, "op") || !strcmp(key, "inputs") || !strcmp(key, "activation"))
            continue;
        if (put(m, gr_ymap_key(x->map, k), gr_ymap_val(x->map, k))) return NULL;
    }
    return m;
}

int xp_emit(struct xp *p, const struct gr_ynode *graph, struct gr_expansion *out) {
    struct gr_ynode *list = xp_node(p, GR_Y_SEQ, graph);
    unsigned *implicit = gr_ydoc_alloc(p->doc, (size_t)p->n * sizeof *implicit);
    if (!list || !implicit || !(list->items = gr_ydoc_alloc(p->doc, (size_t)p->n * sizeof *list->items))) return -1;
    memset(implicit, 0, (size_t)p->n * sizeof *implicit);
    for (int i = 0; i < p->n; i++, list->n++) {
        const struct xnode *x = &p->x[i];
        if (check_node(p, i)) return -1;
        if (x->layer >= 0) list->items[i] = activation_map(p, x);
        else if (!x->scope && x->how == XN_WRITTEN && !x->act && !x->takes_prev) list->items[i] = x->map;
        else list->items[i] = node_map(p, x, &implicit[i]);
        if (!list->items[i]) return -1;
    }
    out->graph = out->list = list;
    out->implicit = implicit;
    return 0;
}
