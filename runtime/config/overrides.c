/* Overrides: --set PATH=VALUE and --unset PATH, applied to a config's YAML
 * tree before anything is checked, so an override is validated exactly like
 * the file (and an error it causes names it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/base/text.h"
#include "runtime/config/overrides.h"

/* Keep an override's text for messages as long as the config lives. */
static const char *keep_origin(struct gr_ydoc *doc, struct gr_str_list **origins, const char *s) {
    size_t n = strlen(s) + 1;
    struct gr_str_list *o = gr_alloc(doc->ctx, sizeof *o + n);
    if (!o) return NULL;
    memcpy(o->s, s, n);
    o->next = *origins;
    *origins = o;
    return o->s;
}

/* An override's PATH: keys and node names joined by single dots. */
static int check_path(struct gr_ctx *ctx, const char *org, const char *path) {
    size_t n = strlen(path);
    if (n == 0) return gr_fail(ctx, "%s: no path before '=' (expected PATH=VALUE, e.g. train.optimizer.lr=0.001)", org);
    if (!gr_yaml_text_ok(path) || strpbrk(path, "\t\r\n"))
        return gr_fail(ctx, "%s: the path holds a control character or is not UTF-8", org);
    if (path[0] == '.' || path[n - 1] == '.' || strstr(path, ".."))
        return gr_fail(ctx, "%s: the path '%s' has an empty part (a path is keys and node names joined by single dots, "
                            "e.g. train.optimizer.lr)", org, path);
    return 0;
}

/* Item `part` of list `seq`: by node name (as in the graph) or by index;
 * -1 with a message naming `walked` (the path up to the list). */
static int find_item(struct gr_ctx *ctx, const char *org, const struct gr_ynode *seq, const char *part,
                     const char *walked) {
    struct gr_suggest sg;
    gr_suggest_init(&sg, part);
    int n_names = 0;
    for (int i = 0; i < seq->n; i++) {
        const struct gr_ynode *nm = gr_ymap_get(seq->items[i], "name");
        if (!nm || nm->kind != GR_Y_SCALAR) continue;
        if (strcmp(nm->str, part) == 0) return i;
        gr_suggest_offer(&sg, nm->str);
        n_names++;
    }
    char *end;
    long idx = strtol(part, &end, 10);
    if (part[0] >= '0' && part[0] <= '9' && !*end) {
        if (idx < seq->n) return (int)idx;
        return gr_fail(ctx, "%s: index %s is out of range for %s (%d item%s)", org, part, walked, seq->n,
                       seq->n == 1 ? "" : "s");
    }
    if (n_names == 0)
        return gr_fail(ctx, "%s: %s is a list without named items: give an index, not '%s'", org, walked, part);
    const char *near = gr_suggest_best(&sg);
    return gr_fail(ctx, "%s: no node '%s' in %s%s%s%s", org, part, walked, near ? " (did you mean '" : "",
                   near ? near : "", near ? "'?)" : "");
}

/* One --set PATH=VALUE (or --unset PATH): VALUE is YAML; PATH walks mappings by key and the
 * graph (or any list) by node name or index. A missing mapping key is
 * created, so the override is then validated like the file. A null VALUE
 * (~ or null, which no key of a config takes) removes the key or the list
 * item instead (nothing, if the key is absent): --unset PATH. */
int gr_override_apply(struct gr_ctx *ctx, struct gr_ydoc *doc, struct gr_str_list **origins, const char *spec) {
    static const char unset[] = GR_OVERRIDE_UNSET;
    int removes = strncmp(spec, unset, sizeof unset - 1) == 0;
    char origin[512];
    snprintf(origin, sizeof origin, "%s%s", removes ? "" : "--set ", spec);
    const char *org = keep_origin(doc, origins, origin);
    if (!org) return -1;
    if (removes) spec += sizeof unset - 1;
    const char *eq = removes ? spec + strlen(spec) : strchr(spec, '=');
    if (removes && strchr(spec, '='))
        return gr_fail(ctx, "%s: --unset takes a PATH alone, without '=' (e.g. --unset train.steps)", org);
    if (removes && !*spec) return gr_fail(ctx, "%s: no path (expected --unset PATH, e.g. --unset train.steps)", org);
    if (!eq) return gr_fail(ctx, "%s: expected PATH=VALUE, e.g. train.optimizer.lr=0.001", org);
    char path[256];
    size_t plen = (size_t)(eq - spec);
    if (plen >= sizeof path) return gr_fail(ctx, "%s: path too long", org);
    memcpy(path, spec, plen);
    path[plen] = 0;
    if (check_path(ctx, org, path)) return -1;
    struct gr_ydoc vdoc;
    if (gr_yaml_parse(ctx, &vdoc, "value", removes ? "~" : eq + 1, removes ? 1 : strlen(eq + 1))) {
        char msg[GR_ERRBUF];
        snprintf(msg, sizeof msg, "%s", ctx->err);
        return gr_fail(ctx, "%s: the value is not YAML (%s)", org, msg);
    }
    int had_value = vdoc.root != NULL;
    struct gr_ynode *value = had_value ? gr_ydoc_copy(doc, vdoc.root, org) : NULL;
    gr_yaml_free(&vdoc);
    if (!value) return had_value ? -1 : gr_fail(ctx, "%s: no value after '='", org);

    struct gr_ynode *cur = doc->root;
    char *save = NULL;
    char *part = strtok_r(path, ".", &save);
    char walked[256] = "";
    while (part) {
        char *next = strtok_r(NULL, ".", &save);
        if (cur->kind == GR_Y_SCALAR)
            return gr_fail(ctx, "%s: '%s' is a value, not a section", org, walked[0] ? walked : "(root)");
        if (cur->kind == GR_Y_SEQ) {
            int found = find_item(ctx, org, cur, part, walked);
            if (found < 0) return -1;
            if (!next) {
                if (gr_ynode_is_null(value)) return gr_yseq_unset(doc, cur, found, org);
                cur->items[found] = value;
                return 0;
            }
            cur = cur->items[found];
        } else {
            if (!next && gr_ynode_is_null(value)) return gr_ymap_unset(doc, cur, part, org);
            if (!next) return gr_ymap_set(doc, cur, part, value, org);
            struct gr_ynode *child = gr_ymap_get(cur, part);
            if (!child && gr_ynode_is_null(value)) return 0; /* nothing to remove */
            if (!child) {
                if (!(child = gr_ydoc_node(doc, GR_Y_MAP, org)) || gr_ymap_set(doc, cur, part, child, org)) return -1;
            }
            cur = child;
        }
        size_t w = strlen(walked);
        snprintf(walked + w, sizeof walked - w, "%s%s", w ? "." : "", part);
        part = next;
    }
    return 0;
}

