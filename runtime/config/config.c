/* realpath() */
#define _XOPEN_SOURCE 700

#include "runtime/config/config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/yaml/check.h"
#include "runtime/base/ctx.h"
#include "runtime/host/registry.h"
#include "runtime/base/fs.h"
#include "runtime/base/text.h"
#include "runtime/host/plugin.h"
#include "runtime/config/overrides.h"

#define F (cfg->doc.file)

static const char *const top_keys[] = {"plugins", "data", "blocks", "graph", "train", "eval", NULL};
static const char *const eval_keys[] = {"logits", "labels", "on", "every", "samples", "batch_size", NULL};

/* A required child of a mapping, or an error at the mapping. */
static const struct gr_ynode *need(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_ynode *map,
                                   const char *key, const char *where) {
    const struct gr_ynode *v = gr_ymap_get(map, key);
    if (!v) gr_fail_missing(ctx, F, map, key, "%s: missing '%s'", where, key);
    return v;
}

/* `p` as an absolute path: the file's real path when it exists, else joined
 * onto the working folder. */
static char *absolute(struct gr_ctx *ctx, const char *p) {
    if (p[0] == '/') return gr_strdup(ctx, p);
    char *real = realpath(p, NULL);
    if (real) {
        char *out = gr_strdup(ctx, real);
        free(real);
        return out;
    }
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) return gr_strdup(ctx, p);
    size_t n = strlen(cwd) + strlen(p) + 2;
    char *out = gr_alloc(ctx, n);
    if (out) snprintf(out, n, "%s/%s", cwd, p);
    return out;
}

/* Replace scalar `key` of `map` (when both exist) by the absolute form of
 * `resolved`. */
static int set_absolute(struct gr_ctx *ctx, struct gr_ydoc *doc, struct gr_ynode *map, const char *key,
                        const char *resolved) {
    if (!map || map->kind != GR_Y_MAP || !resolved) return 0;
    struct gr_ynode *v = gr_ymap_get(map, key);
    if (!v || v->kind != GR_Y_SCALAR) return 0;
    char *abs = absolute(ctx, resolved);
    if (!abs) return -1;
    /* a folder named in another encoding than UTF-8 cannot be written into
     * YAML: the path stays as written there */
    if (!gr_yaml_text_ok(abs)) {
        gr_free(ctx, abs);
        return 0;
    }
    struct gr_ynode *n = gr_ydoc_scalar(doc, abs, v->origin);
    gr_free(ctx, abs);
    return n ? gr_ymap_set(doc, map, key, n, v->origin) : -1;
}

struct absolute_ud {
    struct gr_ctx *ctx;
    struct gr_ydoc *doc;
};

static int absolute_path(void *ud, struct gr_ynode *map, const char *key, const char *resolved) {
    const struct absolute_ud *a = ud;
    return set_absolute(a->ctx, a->doc, map, key, resolved);
}

/* Copy `s` into a YAML comment at `p` (room for 4 bytes per byte of `s`):
 * what YAML reads as a line break (\n, \r, NEL, LS, PS), other control
 * characters and bytes that are not UTF-8 are escaped as in C. Returns the
 * end. */
static char *comment_text(char *p, const char *s) {
    unsigned long cp;
    for (int n; *s; s += n) {
        n = gr_yaml_char(s, &cp);
        if (n && cp >= 0x20 && cp != 0x7f && cp != 0x85 && cp != 0x2028 && cp != 0x2029) {
            memcpy(p, s, (size_t)n);
            p += n;
        } else if (n > 1) {
            p += sprintf(p, "\\u%04lx", cp);
        } else {
            n = 1;
            p += *s == '\n' ? sprintf(p, "\\n") : *s == '\r' ? sprintf(p, "\\r")
                                                : sprintf(p, "\\x%02x", (unsigned char)*s);
        }
    }
    *p = 0;
    return p;
}

/* cfg->run_text: the effective tree, emitted, with the data files', the
 * plugins' and the checkpoint's paths absolute, so that the config.yaml of a
 * run folder still finds them from there. */
static int make_run_text(struct gr_ctx *ctx, struct gr_config *cfg) {
    struct gr_ydoc *doc = &cfg->doc;
    struct gr_ynode *root = gr_ydoc_copy(doc, doc->root, NULL);
    if (!root) return -1;
    struct gr_ynode *data = gr_ymap_get(root, "data");
    struct absolute_ud ud = {ctx, doc};
    if (data && data->kind == GR_Y_MAP && gr_data_cfg_each_path(&cfg->data, data, absolute_path, &ud)) return -1;
    struct gr_ynode *plugins = gr_ymap_get(root, "plugins");
    for (int i = 0; plugins && plugins->kind == GR_Y_SEQ && i < plugins->n && i < cfg->n_plugins; i++)
        if (strchr(cfg->plugins[i], '/')) {
            char *abs = absolute(ctx, cfg->plugins[i]);
            if (!abs) return -1;
            if (!gr_yaml_text_ok(abs)) {
                gr_free(ctx, abs);
                continue;
            }
            plugins->items[i] = gr_ydoc_scalar(doc, abs, NULL);
            gr_free(ctx, abs);
            if (!plugins->items[i]) return -1;
        }
    struct gr_ynode *train = gr_ymap_get(root, "train");
    if (train && train->kind == GR_Y_MAP &&
        set_absolute(ctx, doc, gr_ymap_get(train, "checkpoint"), "path", cfg->checkpoint))
        return -1;
    char *out;
    size_t olen;
    if (gr_yaml_emit(ctx, root, &out, &olen)) return -1;
    /* a first line saying where it came from: the file and its overrides in
     * order (cfg->origins holds them newest first), each escaped so that it
     * stays inside the comment */
    size_t hlen = 4 * strlen(cfg->path) + 64;
    int n_sets = 0;
    for (const struct gr_str_list *o = cfg->origins; o; o = o->next, n_sets++) hlen += 4 * strlen(o->s) + 4;
    cfg->run_text = gr_alloc(ctx, hlen + olen + 1);
    if (cfg->run_text) {
        char *p = cfg->run_text;
        p += sprintf(p, "# the effective config of this run: ");
        p = comment_text(p, cfg->path);
        for (int i = n_sets - 1; i >= 0; i--) {
            const struct gr_str_list *o = cfg->origins;
            for (int k = 0; k < i; k++) o = o->next;
            p += sprintf(p, "%s", i == n_sets - 1 ? " with " : " ");
            p = comment_text(p, o->s);
        }
        p += sprintf(p, "; paths made absolute\n");
        memcpy(p, out, olen + 1);
    }
    free(out);
    return cfg->run_text ? 0 : -1;
}

static int read_eval(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_ynode *e) {
    if (gr_need_kind(ctx, F, e, GR_Y_MAP, "eval")) return -1;
    if (gr_check_keys(ctx, F, e, eval_keys, "eval")) return -1;
    const struct gr_ynode *v;
    cfg->has_eval = 1;
    if (!(v = need(ctx, cfg, e, "logits", "eval")) || gr_read_string(ctx, F, v, "eval.logits", &cfg->logits)) return -1;
    cfg->logits_at = v;
    if ((v = gr_ymap_get(e, "every")) && gr_read_int(ctx, F, v, 1, INT32_MAX, "eval.every", &cfg->eval_every)) return -1;
    if ((v = gr_ymap_get(e, "samples"))) {
        if (gr_read_int(ctx, F, v, 1, INT32_MAX, "eval.samples", &cfg->eval_samples)) return -1;
        cfg->eval_samples_at = v;
    }
    if ((v = gr_ymap_get(e, "batch_size")) && gr_read_int(ctx, F, v, 1, 1 << 20, "eval.batch_size", &cfg->eval_batch))
        return -1;
    if ((v = gr_ymap_get(e, "labels"))) {
        if (gr_read_string(ctx, F, v, "eval.labels", &cfg->eval_labels)) return -1;
        cfg->eval_labels_at = v;
    }
    if ((v = gr_ymap_get(e, "on"))) {
        static const char *const sets[] = {"validation", "test", NULL};
        int on;
        if (gr_read_choice(ctx, F, v, sets, "eval.on", &on)) return -1;
        if (on == 0 && !gr_data_cfg_has_validation(&cfg->data))
            return gr_fail_node(ctx, F, v, "eval.on: validation, but the config has no data.validation");
        cfg->eval_on_validation = on == 0;
        cfg->eval_on_at = v;
    }
    return 0;
}

static int read_plugins(struct gr_ctx *ctx, struct gr_config *cfg, const char *dir, const struct gr_ynode *list) {
    if (gr_need_kind(ctx, F, list, GR_Y_SEQ, "plugins")) return -1;
    cfg->plugins = gr_calloc(ctx, (size_t)(list->n ? list->n : 1), sizeof *cfg->plugins);
    cfg->plugins_at = gr_calloc(ctx, (size_t)(list->n ? list->n : 1), sizeof *cfg->plugins_at);
    if (!cfg->plugins || !cfg->plugins_at) return -1;
    for (int i = 0; i < list->n; i++) {
        char what[32];
        const char *name;
        snprintf(what, sizeof what, "plugins[%d]", i);
        if (gr_read_string(ctx, F, list->items[i], what, &name)) return -1;
        /* a path (a '/', or a file beside the config) is relative to the
         * config; only a bare name is looked up later */
        cfg->plugins[i] = gr_plugin_entry(ctx, dir, name);
        if (!cfg->plugins[i]) return -1;
        cfg->plugins_at[i] = list->items[i];
        cfg->n_plugins = i + 1;
    }
    return 0;
}

int gr_config_load_plugins(struct gr_ctx *ctx, const struct gr_config *cfg) {
    for (int i = 0; i < cfg->n_plugins; i++) {
        char path[4096];
        if (gr_plugin_find(ctx, cfg->plugins[i], path, sizeof path))
            return gr_fail_node(ctx, cfg->path, cfg->plugins_at[i],
                                "plugins[%d]: no plugin '%s' in GRAPHRUN_PLUGIN_PATH (%s)", i, cfg->plugins[i],
                                ctx->plugin_path ? ctx->plugin_path : "not set");
        if (gr_plugin_load(ctx, path)) {
            char msg[GR_ERRBUF];
            snprintf(msg, sizeof msg, "%s", ctx->err);
            return gr_fail_node(ctx, cfg->path, cfg->plugins_at[i], "plugins[%d]: %s", i, msg);
        }
    }
    return 0;
}

int gr_config_parse(struct gr_ctx *ctx, struct gr_config *cfg, const char *name, const char *dir, const char *text,
                    size_t len) {
    return gr_config_parse_ex(ctx, cfg, name, dir, text, len, NULL, 0);
}

int gr_config_parse_ex(struct gr_ctx *ctx, struct gr_config *cfg, const char *name, const char *dir, const char *text,
                       size_t len, const char *const *sets, int n_sets) {
    memset(cfg, 0, sizeof *cfg);
    cfg->path = gr_strdup(ctx, name);
    if (!cfg->path) return -1;
    if (gr_yaml_parse(ctx, &cfg->doc, cfg->path, text, len)) return -1;
    if (!cfg->doc.root) return gr_fail(ctx, "%s: the config is empty", name);
    if (n_sets && cfg->doc.root->kind != GR_Y_MAP)
        return gr_need_kind(ctx, F, cfg->doc.root, GR_Y_MAP, "config");
    for (int i = 0; i < n_sets; i++) {
        if (gr_override_apply(ctx, &cfg->doc, &cfg->origins, sets[i])) return -1;
        /* the budget the file has holds for the tree the overrides make */
        if (gr_ynode_count(cfg->doc.root, GR_YAML_MAX_NODES) > GR_YAML_MAX_NODES)
            return gr_fail(ctx, "%s: the config would have more than %d YAML nodes", cfg->origins->s,
                           GR_YAML_MAX_NODES);
    }
    /* the text a checkpoint and a run folder keep: the file itself, or, with
     * overrides, the tree as they left it */
    if (n_sets == 0) {
        cfg->text = gr_alloc(ctx, len + 1);
        if (!cfg->text) return -1;
        memcpy(cfg->text, text, len);
        cfg->text[len] = 0;
    } else {
        char *out;
        size_t olen;
        if (gr_yaml_emit(ctx, cfg->doc.root, &out, &olen)) return -1;
        cfg->text = gr_alloc(ctx, olen + 1);
        if (cfg->text) memcpy(cfg->text, out, olen + 1);
        free(out);
        if (!cfg->text) return -1;
    }
    const struct gr_ynode *root = cfg->doc.root;
    if (gr_need_kind(ctx, F, root, GR_Y_MAP, "config")) return -1;
    if (gr_check_keys(ctx, F, root, top_keys, "the config")) return -1;
    const struct gr_ynode *v;
    if ((v = gr_ymap_get(root, "plugins")) && read_plugins(ctx, cfg, dir, v)) return -1;
    if (!(v = need(ctx, cfg, root, "data", "config")) || gr_data_cfg_read(ctx, &cfg->data, F, dir, v)) return -1;
    if (!(cfg->graph = need(ctx, cfg, root, "graph", "config"))) return -1;
    if (gr_need_kind(ctx, F, cfg->graph, GR_Y_SEQ, "graph")) return -1;
    if (!(v = need(ctx, cfg, root, "train", "config")) || gr_config_read_train(ctx, cfg, dir, v)) return -1;
    /* without an eval section the loss is still printed every 100 steps */
    cfg->eval_every = 100;
    cfg->eval_samples = 0; /* the whole test set */
    cfg->eval_batch = 1000;
    cfg->eval_labels = "labels";
    cfg->eval_on_validation = gr_data_cfg_has_validation(&cfg->data);
    if ((v = gr_ymap_get(root, "eval")) && read_eval(ctx, cfg, v)) return -1;
    if (gr_config_check_watchers(ctx, cfg)) return -1;
    return make_run_text(ctx, cfg);
}

int gr_config_load(struct gr_ctx *ctx, struct gr_config *cfg, const char *path) {
    return gr_config_load_ex(ctx, cfg, path, NULL, 0);
}

int gr_config_load_ex(struct gr_ctx *ctx, struct gr_config *cfg, const char *path, const char *const *sets,
                      int n_sets) {
    memset(cfg, 0, sizeof *cfg);
    char *text;
    size_t len;
    if (gr_read_text_file(ctx, path, GR_YAML_MAX_FILE, &text, &len)) return -1;
    char *dir = gr_strdup(ctx, path);
    if (!dir) {
        gr_free(ctx, text);
        return -1;
    }
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else dir[0] = 0;
    int rc = gr_config_parse_ex(ctx, cfg, path, dir, text, len, sets, n_sets);
    gr_free(ctx, text);
    gr_free(ctx, dir);
    return rc;
}

void gr_config_free(struct gr_ctx *ctx, struct gr_config *cfg) {
    gr_yaml_free(&cfg->doc);
    gr_free(ctx, cfg->path);
    gr_free(ctx, cfg->text);
    gr_free(ctx, cfg->run_text);
    for (struct gr_str_list *o = cfg->origins; o;) {
        struct gr_str_list *next = o->next;
        gr_free(ctx, o);
        o = next;
    }
    gr_free(ctx, cfg->checkpoint);
    for (int i = 0; i < cfg->n_plugins; i++) gr_free(ctx, cfg->plugins[i]);
    gr_free(ctx, cfg->plugins);
    gr_free(ctx, cfg->plugins_at);
    gr_data_cfg_free(ctx, &cfg->data);
    memset(cfg, 0, sizeof *cfg);
}
