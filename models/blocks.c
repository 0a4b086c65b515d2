/* Blocks: named, parameterised sub-graphs declared under `blocks:` and used
 * as nodes (`use: B, with: {...}, repeat: N`). Each instance is a copy of
 * the block's `graph` with the parameters substituted, every copied YAML
 * node located at its line in the block and at the use (its origin), then
 * expanded like any list (models/expand.c). */
#include <stdio.h>
#include <string.h>

#include "models/expand_int.h"
#include "runtime/base/ctx.h"
#include "runtime/host/registry.h"
#include "runtime/yaml/check.h"

#define MAX_PARAMS 64

static int ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }

static int valid_param(const char *s) {
    size_t n = 0;
    if (!ident_start(*s)) return 0;
    while (ident_char(s[n])) n++;
    return !s[n] && n <= 63;
}

/* One parameter name, required or with a default. */
static int add_param(struct xp *p, struct xblock *b, const struct gr_ynode *at, const char *what,
                     const struct gr_ynode *def) {
    const char *name;
    if (gr_read_string(p->ctx, p->file, at, what, &name)) return -1;
    if (!valid_param(name))
        return gr_fail_node(p->ctx, p->file, at, "%s: parameter '%s': use 1-63 letters, digits and '_', not a digit "
                            "first", what, name);
    if (!strcmp(name, "input"))
        return gr_fail_node(p->ctx, p->file, at, "%s: 'input' is reserved: $input names the block's input node", what);
    int k = xp_param_index(b, name, strlen(name));
    if (k >= 0 && def && !b->def[k])
        return gr_fail_node(p->ctx, p->file, at, "%s: parameter '%s' is also in params (at %s); one with a default "
                            "belongs under defaults only", what, name, xp_where(p, b->param_at[k]));
    if (k >= 0)
        return gr_fail_node(p->ctx, p->file, at, "%s: parameter '%s' is declared twice (first at %s)", what, name,
                            xp_where(p, b->param_at[k]));
    if (b->n_params == MAX_PARAMS)
        return gr_fail_node(p->ctx, p->file, at, "%s: a block takes at most %d parameters", what, MAX_PARAMS);
    b->param[b->n_params] = name;
    b->param_at[b->n_params] = at;
    b->def[b->n_params++] = def;
    return 0;
}

static int read_params(struct xp *p, struct xblock *b, const struct gr_ynode *params, const struct gr_ynode *defaults) {
    const char *what = xp_fmt(p, "blocks.%s.params", b->name), *dwhat = xp_fmt(p, "blocks.%s.defaults", b->name);
    b->param = xp_scratch(p, MAX_PARAMS * sizeof *b->param);
    b->param_at = xp_scratch(p, MAX_PARAMS * sizeof *b->param_at);
    b->def = xp_scratch(p, MAX_PARAMS * sizeof *b->def);
    if (!what || !dwhat || !b->param || !b->param_at || !b->def) return -1;
    if (params && gr_need_kind(p->ctx, p->file, params, GR_Y_SEQ, what)) return -1;
    if (defaults && gr_need_kind(p->ctx, p->file, defaults, GR_Y_MAP, dwhat)) return -1;
    for (int k = 0; params && k < params->n; k++)
        if (add_param(p, b, params->items[k], what, NULL)) return -1;
    for (int k = 0; defaults && k < defaults->n; k++)
        if (add_param(p, b, gr_ymap_key(defaults, k), dwhat, gr_ymap_val(defaults, k))) return -1;
    return 0;
}

static int read_block(struct xp *p, const struct gr_ynode *key, const struct gr_ynode *decl, struct xblock *b) {
    static const char *const keys[] = {"params", "defaults", "graph", NULL};
    b->name = key->str;
    b->key = key;
    if (!xp_valid_name(b->name))
        return gr_fail_node(p->ctx, p->file, key, "block name '%s': use 1-63 letters, digits, '_' or '-', starting "
                            "with a letter or '_'", b->name);
    if (gr_registry_find(p->ctx->reg, b->name))
        return gr_fail_node(p->ctx, p->file, key, "block '%s' has the name of an op; give the block a name of its own",
                            b->name);
    const char *what = xp_fmt(p, "blocks.%s", b->name);
    if (!what || gr_need_kind(p->ctx, p->file, decl, GR_Y_MAP, what) ||
        gr_check_keys(p->ctx, p->file, decl, keys, what))
        return -1;
    b->graph = gr_ymap_get(decl, "graph");
    if (!b->graph) return gr_fail_missing(p->ctx, p->file, decl, "graph", "%s: missing 'graph' (its nodes)", what);
    const char *gwhat = xp_fmt(p, "%s.graph", what);
    if (!gwhat || gr_need_kind(p->ctx, p->file, b->graph, GR_Y_SEQ, gwhat)) return -1;
    if (b->graph->n == 0) return gr_fail_node(p->ctx, p->file, b->graph, "%s: no nodes", gwhat);
    return read_params(p, b, gr_ymap_get(decl, "params"), gr_ymap_get(decl, "defaults"));
}

int xp_read_blocks(struct xp *p, const struct gr_ynode *blocks) {
    if (!blocks) return 0;
    if (gr_need_kind(p->ctx, p->file, blocks, GR_Y_MAP, "blocks")) return -1;
    if (!(p->blocks = xp_scratch(p, (size_t)(blocks->n ? blocks->n : 1) * sizeof *p->blocks))) return -1;
    for (int i = 0; i < blocks->n; i++, p->n_blocks++)
        if (read_block(p, gr_ymap_key(blocks, i), gr_ymap_val(blocks, i), &p->blocks[i])) return -1;
    return 0;
}

int xp_add_local(struct xp *p, struct xscope *s, const char *name, int node) {
    if (s->n_local == s->cap_local) {
        int cap = s->cap_local ? 2 * s->cap_local : 8;
        const char **local = xp_scratch(p, (size_t)cap * sizeof *local);
        int *at = xp_scratch(p, (size_t)cap * sizeof *at);
        if (!local || !at) return -1;
        if (s->n_local) {
            memcpy(local, s->local, (size_t)s->n_local * sizeof *local);
            memcpy(at, s->local_node, (size_t)s->n_local * sizeof *at);
        }
        s->local = local;
        s->local_node = at;
        s->cap_local = cap;
    }
    s->local[s->n_local] = name;
    s->local_node[s->n_local++] = node;
    return 0;
}
