/* A use of a block (`use: B, name:, with:, repeat:, inputs:`) made into
 * instances: the block's `graph` copied with its parameters substituted,
 * then expanded like any list (models/expand.c). */
#include <stdio.h>
#include <string.h>

#include "models/expand_int.h"
#include "runtime/base/ctx.h"
#include "runtime/base/text.h"
#include "runtime/host/registry.h"
#include "runtime/yaml/check.h"

static int ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }

int xp_param_index(const struct xblock *b, const char *name, size_t len) {
    for (int k = 0; k < b->n_params; k++)
        if (!strncmp(b->param[k], name, len) && !b->param[k][len]) return k;
    return -1;
}

/* " (did you mean '$x'?)", or the parameters the block takes. */
const char *xp_param_hint(struct xp *p, const struct xblock *b, const char *name, const char *sigil) {
    struct gr_suggest sg;
    gr_suggest_init(&sg, name);
    for (int k = 0; k < b->n_params; k++) gr_suggest_offer(&sg, b->param[k]);
    const char *near = gr_suggest_best(&sg);
    if (near) return xp_fmt(p, " (did you mean '%s%s'?)", sigil, near);
    if (!b->n_params) return " (it takes none)";
    char list[400] = "";
    size_t used = 0;
    for (int k = 0; k < b->n_params && used < sizeof list - 1; k++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", b->param[k]);
    return xp_fmt(p, " (it takes %s)", list);
}

/* ---- substitution ---------------------------------------------------------- */

/* Where a node copied into instance s says it is: at `at` in the block, and
 * at the use; a node an override wrote keeps naming the override. */
static const char *origin_in(struct xp *p, const struct gr_ynode *src, const struct gr_ynode *at,
                             const struct xscope *s) {
    return src->origin ? src->origin : xp_fmt(p, "%s:%d:%d: %s", p->file, at->line, at->col, s->where);
}

static int over_budget(struct xp *p, const struct xscope *s) {
    if (p->doc->n_nodes < GR_YAML_MAX_NODES) return 0;
    gr_fail_node(p->ctx, p->file, s->use, "the expanded graph would hold more than %d YAML nodes",
                 GR_YAML_MAX_NODES);
    return 1;
}

/* A copy of one node alone (its items still to fill). */
static struct gr_ynode *node_copy(struct xp *p, const struct gr_ynode *src, const struct gr_ynode *at,
                                  const char *origin) {
    struct gr_ynode *c = gr_ydoc_node(p->doc, src->kind, origin);
    if (!c) return NULL;
    c->line = at->line;
    c->col = at->col;
    c->quoted = src->quoted;
    c->removed = src->removed;
    c->replaced = src->replaced;
    c->str = src->str;
    c->n = src->n;
    size_t count = src->kind == GR_Y_SCALAR ? 0 : (size_t)src->n * (src->kind == GR_Y_MAP ? 2u : 1u);
    if (count && !(c->items = gr_ydoc_alloc(p->doc, count * sizeof *c->items))) return NULL;
    return c;
}

/* An argument copied where the block refers to it (`at`), so an error in it
 * points there and at the use. */
static struct gr_ynode *value_copy(struct xp *p, const struct gr_ynode *v, const struct gr_ynode *at,
                                   const char *origin, const struct xscope *s) {
    if (over_budget(p, s)) return NULL;
    struct gr_ynode *c = node_copy(p, v, at, v->origin ? v->origin : origin);
    int count = v->kind == GR_Y_SCALAR ? 0 : v->kind == GR_Y_MAP ? 2 * v->n : v->n;
    for (int i = 0; c && i < count; i++)
        if (!(c->items[i] = value_copy(p, v->items[i], at, origin, s))) return NULL;
    return c;
}

/* The length of the parameter reference at `q` ($name or ${name}), with the
 * name's start and length; 0 if none starts there. */
static size_t ref_at(const char *q, const char **name, size_t *len) {
    static const char brace[2] = {'{', '}'};
    int braced = q[1] == brace[0];
    size_t k = braced ? 2 : 1;
    if (q[0] != '$' || !ident_start(q[k])) return 0;
    *name = q + k;
    while (ident_char(q[k])) k++;
    *len = (size_t)(q + k - *name);
    if (!braced) return k;
    return q[k] == brace[1] ? k + 1 : 0;
}

/* The parameter a reference names, or an error at `at`. */
static int ref_param(struct xp *p, const struct gr_ynode *at, const struct xscope *s, const char *name, size_t len) {
    if (len == 5 && !strncmp(name, "input", 5))
        return gr_fail_node(p->ctx, p->file, at, "'$input' names the block's input node: it may only be an item "
                            "of 'inputs'");
    int k = xp_param_index(s->block, name, len);
    if (k >= 0) return k;
    const char *typed = xp_fmt(p, "%.*s", (int)len, name);
    return gr_fail_node(p->ctx, p->file, at, "'$%s' names no parameter of block '%s'%s", typed ? typed : "",
                        s->block->name, typed ? xp_param_hint(p, s->block, typed, "$") : "");
}

/* References inside other text, replaced by the arguments' text: the length
 * into *len, and the text into `out` when given. */
static int interpolate(struct xp *p, const struct gr_ynode *at, const struct xscope *s, char *out, size_t *len) {
    size_t used = 0;
    for (const char *q = at->str; *q;) {
        const char *name = NULL;
        size_t nlen = 0, r = *q == '$' ? ref_at(q, &name, &nlen) : 0;
        if (*q == '$' && !r)
            return gr_fail_node(p->ctx, p->file, at, "'%s': '$' starts a parameter: $name or ${name}", at->str);
        if (!r) {
            if (out) out[used] = *q;
            used++, q++;
            continue;
        }
        int k = ref_param(p, at, s, name, nlen);
        if (k < 0) return -1;
        const struct gr_ynode *v = s->args[k];
        if (v->kind != GR_Y_SCALAR)
            return gr_fail_node(p->ctx, p->file, at, "'$%.*s' is %s: only a value that is the reference alone can "
                                "take one", (int)nlen, name, gr_ykind_name(v->kind));
        size_t vl = strlen(v->str);
        if (out) memcpy(out + used, v->str, vl);
        used += vl;
        q += r;
    }
    if (out) out[used] = 0;
    *len = used;
    return 0;
}

/* A scalar of the block holding '$': one reference alone becomes the
 * argument as it is; references in text become the arguments' text. */
static struct gr_ynode *substitute(struct xp *p, const struct gr_ynode *n, const struct xscope *s, int in_inputs) {
    const char *origin = origin_in(p, n, n, s);
    struct gr_ynode *c = origin ? node_copy(p, n, n, origin) : NULL;
    if (!c) return NULL;
    const char *name = NULL;
    size_t len = 0, r = ref_at(n->str, &name, &len);
    if (r && !n->str[r]) {
        if (in_inputs && len == 5 && !strncmp(name, "input", 5)) return c; /* resolved with the inputs */
        int k = ref_param(p, c, s, name, len);
        return k < 0 ? NULL : value_copy(p, s->args[k], n, origin, s);
    }
    char *text;
    if (interpolate(p, c, s, NULL, &len) || !(text = gr_ydoc_alloc(p->doc, len + 1)) ||
        interpolate(p, c, s, text, &len))
        return NULL;
    c->str = text;
    return c;
}

/* A copy of part of a block's graph for instance s: every node located in
 * the block and at the use, parameters substituted in values (not keys). */
static struct gr_ynode *block_copy(struct xp *p, const struct gr_ynode *n, const struct xscope *s, int mode) {
    enum { VALUE, INPUTS, KEY };
    if (over_budget(p, s)) return NULL;
    if (mode != KEY && n->kind == GR_Y_SCALAR && strchr(n->str, '$')) return substitute(p, n, s, mode == INPUTS);
    const char *origin = origin_in(p, n, n, s);
    struct gr_ynode *c = origin ? node_copy(p, n, n, origin) : NULL;
    int count = n->kind == GR_Y_SCALAR ? 0 : n->kind == GR_Y_MAP ? 2 * n->n : n->n;
    for (int i = 0; c && i < count; i++) {
        int m = mode == INPUTS ? INPUTS : VALUE;
        if (n->kind == GR_Y_MAP && i % 2 == 0) m = KEY;
        else if (n->kind == GR_Y_MAP && !strcmp(n->items[i - 1]->str, "inputs")) m = INPUTS;
        if (!(c->items[i] = block_copy(p, n->items[i], s, m))) return NULL;
    }
    return c;
}

/* ---- uses ------------------------------------------------------------------ */

/* "a -> b -> a": the instances from block b's own up to s, then b again. */
static const char *cycle(struct xp *p, const struct xblock *b, const struct xscope *s) {
    const char *path = b->name;
    for (const struct xscope *t = s; t; t = t->up) {
        path = xp_fmt(p, "%s -> %s", t->block->name, path);
        if (!path || t->block == b) break;
    }
    return path;
}

/* The block a use names: declared, and not one being expanded. */
static int find_block(struct xp *p, const struct gr_ynode *map, const char *what, const struct xscope *s,
                      struct xblock **out) {
    const struct gr_ynode *use = gr_ymap_get(map, "use");
    const char *name;
    char w[GR_ERRBUF];
    snprintf(w, sizeof w, "%s: use", what);
    if (gr_read_string(p->ctx, p->file, use, w, &name)) return -1;
    struct gr_suggest sg;
    gr_suggest_init(&sg, name);
    for (int i = 0; i < p->n_blocks; i++) {
        if (strcmp(p->blocks[i].name, name)) {
            gr_suggest_offer(&sg, p->blocks[i].name);
            continue;
        }
        *out = &p->blocks[i];
        if (!(*out)->active) return 0;
        const char *path = cycle(p, *out, s);
        return gr_fail_node(p->ctx, p->file, use, "%s: blocks use each other in a cycle: %s", w, path ? path : name);
    }
    if (gr_registry_find(p->ctx->reg, name))
        return gr_fail_node(p->ctx, p->file, use, "%s: '%s' is an op, not a block: write 'op: %s'", w, name, name);
    const char *near = gr_suggest_best(&sg);
    if (near) return gr_fail_node(p->ctx, p->file, use, "%s: no block '%s' (did you mean '%s'?)", w, name, near);
    return gr_fail_node(p->ctx, p->file, use, "%s: no block '%s'%s", w, name,
                        p->n_blocks ? "" : " (the config declares none under 'blocks:')");
}

static int check_use_keys(struct xp *p, const struct gr_ynode *map, const char *what, const struct xblock *b) {
    static const char *const keys[] = {"use", "name", "with", "repeat", "inputs", NULL};
    for (int i = 0; i < map->n; i++) {
        const struct gr_ynode *key = gr_ymap_key(map, i);
        if (xp_param_index(b, key->str, strlen(key->str)) >= 0)
            return gr_fail_node(p->ctx, p->file, key, "%s: '%s' is a parameter of block '%s': give it under 'with:'",
                                what, key->str, b->name);
    }
    const char *w = xp_fmt(p, "%s (a use of block '%s')", what, b->name);
    return w ? gr_check_keys(p->ctx, p->file, map, keys, w) : -1;
}

/* Each parameter's value: from `with:`, else the block's default. */
static int read_args(struct xp *p, const struct gr_ynode *map, const char *what, const struct xblock *b,
                     const struct gr_ynode ***out) {
    const struct gr_ynode **args = xp_scratch(p, (size_t)(b->n_params ? b->n_params : 1) * sizeof *args);
    const struct gr_ynode *with = gr_ymap_get(map, "with");
    const char *w = xp_fmt(p, "%s: with", what);
    if (!args || !w || (with && gr_need_kind(p->ctx, p->file, with, GR_Y_MAP, w))) return -1;
    for (int i = 0; with && i < with->n; i++) {
        const struct gr_ynode *key = gr_ymap_key(with, i);
        int k = xp_param_index(b, key->str, strlen(key->str));
        if (k < 0)
            return gr_fail_node(p->ctx, p->file, key, "%s: block '%s' has no parameter '%s'%s", w, b->name, key->str,
                                xp_param_hint(p, b, key->str, ""));
        args[k] = gr_ymap_val(with, i);
    }
    for (int k = 0; k < b->n_params; k++) {
        if (!args[k]) args[k] = b->def[k];
        int gone = with && gr_ymap_removed_by(with, b->param[k]); /* by an --unset */
        if (!args[k])
            return gr_fail_missing(p->ctx, p->file, gone ? with : map, gone ? b->param[k] : "with",
                                   "%s: block '%s' needs its parameter '%s' (with: {%s: ...}), declared at %s", what,
                                   b->name, b->param[k], b->param[k], xp_where(p, b->param_at[k]));
    }
    *out = args;
    return 0;
}

/* What feeds the use: its `inputs` (one node), else the node before it. */
static int use_input(struct xp *p, const struct gr_ynode *map, const char *what, const struct xscope *s,
                     const struct xref *prev, struct xref *out) {
    const struct gr_ynode *in = gr_ymap_get(map, "inputs");
    if (!in) {
        *out = *prev;
        return 0;
    }
    const struct gr_ynode *item = in->kind == GR_Y_SEQ && in->n == 1 ? in->items[0] : in;
    if (item->kind != GR_Y_SCALAR)
        return gr_fail_node(p->ctx, p->file, in, "%s: inputs: a block takes one input, got %s", what,
                            in->kind == GR_Y_SEQ ? xp_fmt(p, "%d", in->n) : "a mapping");
    if (s && xp_is_input_ref(item->str)) *out = s->input;
    else *out = (struct xref){.node = -1, .name = item->str, .scope = s};
    out->at = item;
    return 0;
}

/* The instances of block b for one use, each fed by the one before. */
static int instances(struct xp *p, const struct gr_ynode *map, struct xblock *b, struct xscope *s,
                     const struct gr_ynode **args, const char *base, int repeat, struct xref *input) {
    /* a use named by an override: the names made from it are the
     * override's doing too */
    const struct gr_ynode *nm = gr_ymap_get(map, "name");
    const char *by = nm && nm->origin && nm->origin != map->origin ? xp_fmt(p, " (named by %s)", nm->origin) : "";
    const char *where = !s ? xp_fmt(p, "in block '%s' used at %s%s", b->name, xp_where(p, map), by)
                           : xp_fmt(p, "in block '%s' used at %s:%d:%d%s, %s", b->name, p->file, map->line, map->col,
                                    by, s->where);
    const char *what = xp_fmt(p, "blocks.%s.graph", b->name);
    if (!where || !what) return -1;
    for (int r = 1; r <= repeat; r++) {
        struct xscope *in = xp_scratch(p, sizeof *in);
        if (!in) return -1;
        *in = (struct xscope){.block = b, .use = map, .where = where, .input = *input, .args = args, .up = s};
        in->prefix = repeat > 1 ? xp_fmt(p, "%s_%d", base, r) : base;
        if (p->doc->n_nodes + gr_ynode_count(b->graph, GR_YAML_MAX_NODES) >= GR_YAML_MAX_NODES)
            return gr_fail_node(p->ctx, p->file, map, "the expanded graph would hold more than %d YAML nodes",
                                GR_YAML_MAX_NODES);
        const struct gr_ynode *list = in->prefix ? block_copy(p, b->graph, in, 0) : NULL;
        struct xref before = *input;
        if (!list || xp_list(p, list, what, in, &before)) return -1;
        *input = (struct xref){.node = p->n - 1, .implicit = 1};
    }
    return 0;
}

int xp_use(struct xp *p, struct gr_ynode *map, const char *what, struct xscope *s, struct xref *prev) {
    struct xblock *b = NULL;
    const struct gr_ynode **args = NULL, *name = gr_ymap_get(map, "name"), *rep = gr_ymap_get(map, "repeat");
    const char *written = NULL;
    int64_t repeat = 1;
    struct xref input;
    char w[GR_ERRBUF];
    if (find_block(p, map, what, s, &b) || check_use_keys(p, map, what, b)) return -1;
    snprintf(w, sizeof w, "%s: name", what);
    if (name && gr_read_string(p->ctx, p->file, name, w, &written)) return -1;
    snprintf(w, sizeof w, "%s: repeat", what);
    if (rep && gr_read_int(p->ctx, p->file, rep, 1, XP_MAX_REPEAT, w, &repeat)) return -1;
    if (read_args(p, map, what, b, &args) || use_input(p, map, what, s, prev, &input)) return -1;
    if (p->depth == XP_MAX_DEPTH) {
        /* told at the outermost use, in the config's own graph: a node of
         * a block's copy would head the message with every use above it,
         * which at this depth fills the message before the reason */
        const struct xscope *top = s;
        while (top && top->up) top = top->up;
        return gr_fail_node(p->ctx, p->file, top ? top->use : map,
                            "use of block '%s': blocks nested more than %d deep (block '%s' inside %d others)",
                            top ? top->block->name : b->name, XP_MAX_DEPTH, b->name, p->depth);
    }
    const char *base = !written ? xp_fmt(p, "%s_%d", b->name, ++b->n_uses)
                       : s      ? xp_fmt(p, "%s_%s", s->prefix, written)
                                : written;
    b->active = 1;
    p->depth++;
    int rc = base ? instances(p, map, b, s, args, base, (int)repeat, &input) : -1;
    b->active = 0;
    p->depth--;
    if (rc) return -1;
    int out = p->n - 1;
    if (written) {
        p->x[out].name = base;
        p->x[out].how = XN_OUTPUT;
        p->x[out].name_at = name;
        if (s && xp_add_local(p, s, written, out)) return -1;
    }
    *prev = (struct xref){.node = out, .implicit = 1};
    return 0;
}
