/* The shorthand's node lists (models/expand.h states the rules): each item
 * is a node, possibly with an activation, or a use of a block; a node that
 * names no inputs takes the node before it. This part walks the lists into
 * the expanded nodes (struct xnode); models/blocks.c expands uses,
 * models/names.c names the nodes and writes the explicit list. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "models/expand_int.h"
#include "runtime/base/ctx.h"
#include "runtime/host/registry.h"
#include "runtime/yaml/check.h"

int xp_valid_name(const char *s) {
    if (strlen(s) > 63 || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-'))
            return 0;
    return 1;
}

/* Text kept as long as the expansion. */
static const char *xp_vfmt(struct xp *p, const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *s = n < 0 ? NULL : gr_ydoc_alloc(p->doc, (size_t)n + 1);
    if (s) vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    return s;
}

const char *xp_fmt(struct xp *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const char *s = xp_vfmt(p, fmt, ap);
    va_end(ap);
    return s;
}

const char *xp_where(struct xp *p, const struct gr_ynode *n) {
    return n->origin ? n->origin : xp_fmt(p, "%s:%d:%d", p->file, n->line, n->col);
}

struct gr_ynode *xp_node(struct xp *p, enum gr_ykind kind, const struct gr_ynode *like) {
    struct gr_ynode *n = gr_ydoc_node(p->doc, kind, like ? like->origin : NULL);
    if (n && like) {
        n->line = like->line;
        n->col = like->col;
        n->removed = like->removed;
        n->replaced = like->replaced;
    }
    return n;
}

void *xp_scratch(struct xp *p, size_t bytes) {
    void *m = gr_ydoc_alloc(&p->scratch, bytes);
    if (m) memset(m, 0, bytes);
    return m;
}

/* A new expanded node at the end; its index is p->n - 1 (pointers into p->x
 * move when it grows). */
static struct xnode *add_node(struct xp *p) {
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 32;
        struct xnode *x = xp_scratch(p, (size_t)cap * sizeof *x);
        if (!x) return NULL;
        if (p->n) memcpy(x, p->x, (size_t)p->n * sizeof *x);
        p->x = x;
        p->cap = cap;
    }
    struct xnode *x = &p->x[p->n++];
    memset(x, 0, sizeof *x);
    x->layer = -1;
    x->n_in = -1;
    x->prev.node = -1;
    return x;
}

int xp_is_input_ref(const char *s) { return !strcmp(s, "$input") || !strcmp(s, "${input}"); }

/* A node inside a block names its inputs in the block's terms: `$input` is
 * the instance's input, any other name is looked up among the instance's
 * nodes once they are all made (models/names.c). Malformed `inputs` are
 * left as written for the builder to refuse. */
static int block_inputs(struct xp *p, int i, const struct gr_ynode *inputs, const struct xscope *s) {
    int n = inputs->kind == GR_Y_SCALAR ? 1 : inputs->kind == GR_Y_SEQ ? inputs->n : -1;
    for (int k = 0; inputs->kind == GR_Y_SEQ && k < n; k++)
        if (inputs->items[k]->kind != GR_Y_SCALAR) n = -1;
    if (n < 0) return 0;
    struct xref *in = xp_scratch(p, (size_t)(n ? n : 1) * sizeof *in);
    if (!in) return -1;
    for (int k = 0; k < n; k++) {
        const struct gr_ynode *item = inputs->kind == GR_Y_SCALAR ? inputs : inputs->items[k];
        if (xp_is_input_ref(item->str)) in[k] = s->input;
        else in[k] = (struct xref){.node = -1, .name = item->str, .scope = s};
        in[k].at = item;
    }
    p->x[i].in = in;
    p->x[i].n_in = n;
    return 0;
}

/* The node after a layer that `activation:` puts there. */
static int add_activation(struct xp *p, int layer, struct gr_ynode *act, const char *what, struct xscope *s) {
    struct xnode *x = add_node(p);
    if (!x) return -1;
    x->layer = layer;
    x->act = act;
    x->map = p->x[layer].map;
    x->what = what;
    x->scope = s;
    x->op = act->kind == GR_Y_MAP ? gr_ymap_get(act, "op") : act;
    if (x->op && x->op->kind == GR_Y_SCALAR) x->desc = gr_registry_find(p->ctx->reg, x->op->str);
    const struct gr_ynode *name = gr_ymap_get(act, "name");
    if (!name) return 0;
    char w[GR_ERRBUF];
    snprintf(w, sizeof w, "%s: activation: name", what);
    if (gr_read_string(p->ctx, p->file, name, w, &x->name)) return -1;
    x->how = s ? XN_BLOCK : XN_WRITTEN;
    x->name_at = name;
    if (!s) return 0;
    const char *written = x->name;
    x->name = xp_fmt(p, "%s_%s", s->prefix, written);
    return x->name ? xp_add_local(p, s, written, p->n - 1) : -1;
}

/* An unnamed node is named after its op, so it needs a known one. */
static int need_op(struct xp *p, const struct gr_ynode *map, const struct gr_ynode *op, const char *what) {
    char w[GR_ERRBUF];
    const char *name;
    if (!op) return gr_fail_node(p->ctx, p->file, map, "%s: node has no 'op' (nor 'use')", what);
    snprintf(w, sizeof w, "%s: op", what);
    if (gr_read_string(p->ctx, p->file, op, w, &name)) return -1;
    if (gr_registry_find(p->ctx->reg, name)) return 0;
    const char *near = gr_registry_suggest(p->ctx->reg, name);
    if (near) return gr_fail_node(p->ctx, p->file, op, "%s: unknown op '%s' (did you mean '%s'?)", what, name, near);
    return gr_fail_node(p->ctx, p->file, op, "%s: unknown op '%s' (`graphrun ops` lists them)", what, name);
}

/* One node (not a use): its name as it will be, its op, its inputs or the
 * node before it, and its activation's node after it. */
static int add_item(struct xp *p, struct gr_ynode *map, const char *what, struct xscope *s, struct xref *prev) {
    const struct gr_ynode *name = gr_ymap_get(map, "name"), *inputs = gr_ymap_get(map, "inputs");
    struct gr_ynode *op = gr_ymap_get(map, "op"), *act = gr_ymap_get(map, "activation");
    char w[GR_ERRBUF];
    const char *written = NULL;
    snprintf(w, sizeof w, "%s: name", what);
    if (name && gr_read_string(p->ctx, p->file, name, w, &written)) return -1;
    if (!name && need_op(p, map, op, what)) return -1;
    struct xnode *x = add_node(p);
    if (!x) return -1;
    int i = p->n - 1;
    x->map = map;
    x->op = op;
    x->what = what;
    x->scope = s;
    x->act = act;
    if (op && op->kind == GR_Y_SCALAR) x->desc = gr_registry_find(p->ctx->reg, op->str);
    if (written) {
        x->name = s ? xp_fmt(p, "%s_%s", s->prefix, written) : written;
        x->how = s ? XN_BLOCK : XN_WRITTEN;
        x->name_at = name;
        if (!x->name || (s && xp_add_local(p, s, written, i))) return -1;
    }
    if (inputs && s && block_inputs(p, i, inputs, s)) return -1;
    if (!inputs && p->x[i].desc && p->x[i].desc->min_inputs >= 1) {
        p->x[i].takes_prev = 1;
        p->x[i].prev = *prev;
    }
    *prev = (struct xref){.node = i, .implicit = 1};
    if (!act) return 0;
    if (add_activation(p, i, act, what, s)) return -1;
    *prev = (struct xref){.node = p->n - 1, .implicit = 1};
    return 0;
}

int xp_list(struct xp *p, const struct gr_ynode *list, const char *what, struct xscope *s, struct xref *prev) {
    for (int k = 0; k < list->n; k++) {
        struct gr_ynode *item = list->items[k];
        const char *w = xp_fmt(p, "%s[%d]", what, k);
        if (!w || gr_need_kind(p->ctx, p->file, item, GR_Y_MAP, w)) return -1;
        if (gr_ymap_get(item, "use") ? xp_use(p, item, w, s, prev) : add_item(p, item, w, s, prev)) return -1;
    }
    return 0;
}

void gr_expansion_free(struct gr_ctx *ctx, struct gr_expansion *x) {
    if (x->doc) {
        gr_yaml_free(x->doc);
        gr_free(ctx, x->doc);
    }
    memset(x, 0, sizeof *x);
}

int gr_expand_graph(struct gr_ctx *ctx, const char *file, const struct gr_ynode *graph,
                    const struct gr_ynode *blocks, struct gr_expansion *out) {
    memset(out, 0, sizeof *out);
    out->graph = graph;
    struct xp p;
    memset(&p, 0, sizeof p);
    p.ctx = ctx;
    p.file = file;
    p.scratch.ctx = ctx;
    p.scratch.file = file;
    if (!(p.doc = out->doc = gr_calloc(ctx, 1, sizeof *out->doc))) return -1;
    p.doc->ctx = ctx;
    p.doc->file = file;
    int rc = xp_read_blocks(&p, blocks);
    if (rc == 0 && graph && graph->kind == GR_Y_SEQ && graph->n > 0) {
        struct xref prev = {.node = -1};
        rc = xp_list(&p, graph, "graph", NULL, &prev) || xp_name(&p) || xp_emit(&p, graph, out) ? -1 : 0;
    }
    gr_yaml_free(&p.scratch);
    if (rc) gr_expansion_free(ctx, out);
    return rc;
}

struct gr_ynode *gr_expanded_config(struct gr_expansion *x, const struct gr_ynode *root) {
    struct gr_ynode *r = gr_ydoc_node(x->doc, GR_Y_MAP, NULL);
    if (!r || !(r->items = gr_ydoc_alloc(x->doc, (size_t)(2 * root->n + 2) * sizeof *r->items))) return NULL;
    for (int i = 0; i < root->n; i++) {
        const char *key = gr_ymap_key(root, i)->str;
        if (!strcmp(key, "blocks")) continue;
        r->items[2 * r->n] = gr_ymap_key(root, i);
        r->items[2 * r->n + 1] = !strcmp(key, "graph") && x->list ? x->list : gr_ymap_val(root, i);
        r->n++;
    }
    return r;
}
