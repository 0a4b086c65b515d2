#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ctx.h"
#include "plugin.h"

#define F (cfg->doc.file)

static const char *const top_keys[] = {"plugins", "data", "graph", "train", "eval", NULL};
static const char *const data_keys[] = {"train", "test", "pixel_range", NULL};
static const char *const split_keys[] = {"images", "labels", "limit", NULL};
static const char *const train_keys[] = {"loss",   "optimizer", "batch_size", "steps",
                                         "epochs", "seed",      "threads",    "checkpoint", NULL};
static const char *const checkpoint_keys[] = {"path", "every", NULL};
static const char *const sgd_keys[] = {"name", "lr", "momentum", NULL};
static const char *const adam_keys[] = {"name", "lr", "beta1", "beta2", "epsilon", NULL};
static const char *const optim_names[] = {"sgd", "adam", NULL};
static const char *const eval_keys[] = {"logits", "every", "samples", "batch_size", NULL};

/* A required child of a mapping, or an error at the mapping. */
static const struct gr_ynode *need(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_ynode *map,
                                   const char *key, const char *where) {
    const struct gr_ynode *v = gr_ymap_get(map, key);
    if (!v) gr_fail_node(ctx, F, map, "%s: missing '%s'", where, key);
    return v;
}

/* Join a relative path onto the config's folder. */
static char *resolve(struct gr_ctx *ctx, const char *dir, const char *p) {
    if (p[0] == '/' || !dir || !dir[0]) return gr_strdup(ctx, p);
    size_t n = strlen(dir) + strlen(p) + 2;
    char *out = gr_alloc(ctx, n);
    if (out) snprintf(out, n, "%s/%s", dir, p);
    return out;
}

static int read_split(struct gr_ctx *ctx, struct gr_config *cfg, const char *dir, const struct gr_ynode *map,
                      const char *where, struct gr_data_paths *out) {
    char what[96];
    if (gr_need_kind(ctx, F, map, GR_Y_MAP, where)) return -1;
    if (gr_check_keys(ctx, F, map, split_keys, where)) return -1;
    const struct gr_ynode *im = need(ctx, cfg, map, "images", where), *lb;
    if (!im) return -1;
    if (!(lb = need(ctx, cfg, map, "labels", where))) return -1;
    const char *s;
    snprintf(what, sizeof what, "%s.images", where);
    if (gr_read_string(ctx, F, im, what, &s)) return -1;
    out->images = resolve(ctx, dir, s);
    snprintf(what, sizeof what, "%s.labels", where);
    if (gr_read_string(ctx, F, lb, what, &s)) return -1;
    out->labels = resolve(ctx, dir, s);
    out->images_at = im;
    out->labels_at = lb;
    const struct gr_ynode *lim = gr_ymap_get(map, "limit");
    snprintf(what, sizeof what, "%s.limit", where);
    if (lim && gr_read_int(ctx, F, lim, 1, INT32_MAX, what, &out->limit)) return -1;
    return out->images && out->labels ? 0 : -1;
}

static int read_data(struct gr_ctx *ctx, struct gr_config *cfg, const char *dir, const struct gr_ynode *data) {
    if (gr_need_kind(ctx, F, data, GR_Y_MAP, "data")) return -1;
    if (gr_check_keys(ctx, F, data, data_keys, "data")) return -1;
    const struct gr_ynode *tr = need(ctx, cfg, data, "train", "data"), *te;
    if (!tr || read_split(ctx, cfg, dir, tr, "data.train", &cfg->train_data)) return -1;
    if (!(te = need(ctx, cfg, data, "test", "data")) || read_split(ctx, cfg, dir, te, "data.test", &cfg->test_data))
        return -1;
    cfg->pixel_lo = 0.0;
    cfg->pixel_hi = 1.0;
    const struct gr_ynode *pr = gr_ymap_get(data, "pixel_range");
    if (pr) {
        if (gr_need_kind(ctx, F, pr, GR_Y_SEQ, "data.pixel_range")) return -1;
        if (pr->n != 2) return gr_fail_node(ctx, F, pr, "data.pixel_range: expected [low, high], got %d values", pr->n);
        if (gr_read_float(ctx, F, pr->items[0], -1e6, 1e6, "data.pixel_range[0]", &cfg->pixel_lo)) return -1;
        if (gr_read_float(ctx, F, pr->items[1], -1e6, 1e6, "data.pixel_range[1]", &cfg->pixel_hi)) return -1;
        if (!(cfg->pixel_lo < cfg->pixel_hi))
            return gr_fail_node(ctx, F, pr, "data.pixel_range: low (%g) must be below high (%g)", cfg->pixel_lo,
                                cfg->pixel_hi);
    }
    return 0;
}

static int read_optimizer(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_ynode *o) {
    if (gr_need_kind(ctx, F, o, GR_Y_MAP, "train.optimizer")) return -1;
    const struct gr_ynode *name = need(ctx, cfg, o, "name", "train.optimizer");
    int kind;
    if (!name || gr_read_choice(ctx, F, name, optim_names, "train.optimizer.name", &kind)) return -1;
    struct gr_optim_cfg *c = &cfg->optim;
    c->kind = kind == 0 ? GR_OPTIM_SGD : GR_OPTIM_ADAM;
    if (gr_check_keys(ctx, F, o, kind == 0 ? sgd_keys : adam_keys,
                      kind == 0 ? "train.optimizer (sgd)" : "train.optimizer (adam)"))
        return -1;
    const struct gr_ynode *lr = need(ctx, cfg, o, "lr", "train.optimizer");
    if (!lr || gr_read_float(ctx, F, lr, 0.0, 1e3, "train.optimizer.lr", &c->lr)) return -1;
    if (c->lr <= 0) return gr_fail_node(ctx, F, lr, "train.optimizer.lr: must be above 0, got %s", lr->str);
    c->momentum = 0.0;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    const struct gr_ynode *v;
    if ((v = gr_ymap_get(o, "momentum")) && gr_read_float(ctx, F, v, 0.0, 0.999999, "train.optimizer.momentum", &c->momentum))
        return -1;
    if ((v = gr_ymap_get(o, "beta1")) && gr_read_float(ctx, F, v, 0.0, 0.999999, "train.optimizer.beta1", &c->beta1))
        return -1;
    if ((v = gr_ymap_get(o, "beta2")) && gr_read_float(ctx, F, v, 0.0, 0.999999999, "train.optimizer.beta2", &c->beta2))
        return -1;
    if ((v = gr_ymap_get(o, "epsilon"))) {
        if (gr_read_float(ctx, F, v, 0.0, 1.0, "train.optimizer.epsilon", &c->eps)) return -1;
        if (c->eps <= 0) return gr_fail_node(ctx, F, v, "train.optimizer.epsilon: must be above 0, got %s", v->str);
    }
    return 0;
}

static int read_checkpoint(struct gr_ctx *ctx, struct gr_config *cfg, const char *dir, const struct gr_ynode *c) {
    if (gr_need_kind(ctx, F, c, GR_Y_MAP, "train.checkpoint")) return -1;
    if (gr_check_keys(ctx, F, c, checkpoint_keys, "train.checkpoint")) return -1;
    const struct gr_ynode *v = need(ctx, cfg, c, "path", "train.checkpoint");
    const char *p;
    if (!v || gr_read_string(ctx, F, v, "train.checkpoint.path", &p)) return -1;
    cfg->checkpoint_at = v;
    if (!(cfg->checkpoint = resolve(ctx, dir, p))) return -1;
    if ((v = gr_ymap_get(c, "every")) &&
        gr_read_int(ctx, F, v, 1, INT32_MAX, "train.checkpoint.every", &cfg->checkpoint_every))
        return -1;
    return 0;
}

static int read_train(struct gr_ctx *ctx, struct gr_config *cfg, const char *dir, const struct gr_ynode *t) {
    if (gr_need_kind(ctx, F, t, GR_Y_MAP, "train")) return -1;
    if (gr_check_keys(ctx, F, t, train_keys, "train")) return -1;
    const struct gr_ynode *v;
    if (!(v = need(ctx, cfg, t, "loss", "train")) || gr_read_string(ctx, F, v, "train.loss", &cfg->loss)) return -1;
    cfg->loss_at = v;
    if (!(v = need(ctx, cfg, t, "optimizer", "train")) || read_optimizer(ctx, cfg, v)) return -1;
    if (!(v = need(ctx, cfg, t, "batch_size", "train")) ||
        gr_read_int(ctx, F, v, 1, 1 << 20, "train.batch_size", &cfg->batch_size))
        return -1;
    cfg->batch_size_at = v;
    const struct gr_ynode *steps = gr_ymap_get(t, "steps"), *epochs = gr_ymap_get(t, "epochs");
    if (steps && epochs) return gr_fail_node(ctx, F, epochs, "train: give either 'steps' or 'epochs', not both");
    if (!steps && !epochs) return gr_fail_node(ctx, F, t, "train: missing 'steps' (or 'epochs')");
    if (steps && gr_read_int(ctx, F, steps, 1, INT32_MAX, "train.steps", &cfg->steps)) return -1;
    if (epochs && gr_read_int(ctx, F, epochs, 1, 100000, "train.epochs", &cfg->epochs)) return -1;
    int64_t seed = 0;
    if ((v = gr_ymap_get(t, "seed")) && gr_read_int(ctx, F, v, 0, INT64_MAX, "train.seed", &seed)) return -1;
    cfg->seed = (uint64_t)seed;
    int64_t threads = 0;
    if ((v = gr_ymap_get(t, "threads")) && gr_read_int(ctx, F, v, 0, 64, "train.threads", &threads)) return -1;
    cfg->threads = (int)threads;
    if ((v = gr_ymap_get(t, "checkpoint")) && read_checkpoint(ctx, cfg, dir, v)) return -1;
    return 0;
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
        /* a path is relative to the config; a bare name is looked up later */
        cfg->plugins[i] = strchr(name, '/') ? resolve(ctx, dir, name) : gr_strdup(ctx, name);
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
    memset(cfg, 0, sizeof *cfg);
    cfg->path = gr_strdup(ctx, name);
    cfg->text = gr_alloc(ctx, len + 1);
    if (!cfg->path || !cfg->text) return -1;
    memcpy(cfg->text, text, len);
    cfg->text[len] = 0;
    if (gr_yaml_parse(ctx, &cfg->doc, cfg->path, text, len)) return -1;
    const struct gr_ynode *root = cfg->doc.root;
    if (!root) return gr_fail(ctx, "%s: the config is empty", name);
    if (gr_need_kind(ctx, F, root, GR_Y_MAP, "config")) return -1;
    if (gr_check_keys(ctx, F, root, top_keys, "the config")) return -1;
    const struct gr_ynode *v;
    if ((v = gr_ymap_get(root, "plugins")) && read_plugins(ctx, cfg, dir, v)) return -1;
    if (!(v = need(ctx, cfg, root, "data", "config")) || read_data(ctx, cfg, dir, v)) return -1;
    if (!(cfg->graph = need(ctx, cfg, root, "graph", "config"))) return -1;
    if (gr_need_kind(ctx, F, cfg->graph, GR_Y_SEQ, "graph")) return -1;
    if (!(v = need(ctx, cfg, root, "train", "config")) || read_train(ctx, cfg, dir, v)) return -1;
    /* without an eval section the loss is still printed every 100 steps */
    cfg->eval_every = 100;
    cfg->eval_samples = 0; /* the whole test set */
    cfg->eval_batch = 1000;
    if ((v = gr_ymap_get(root, "eval")) && read_eval(ctx, cfg, v)) return -1;
    return 0;
}

int gr_config_load(struct gr_ctx *ctx, struct gr_config *cfg, const char *path) {
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
    int rc = gr_config_parse(ctx, cfg, path, dir, text, len);
    gr_free(ctx, text);
    gr_free(ctx, dir);
    return rc;
}

void gr_config_free(struct gr_ctx *ctx, struct gr_config *cfg) {
    gr_yaml_free(&cfg->doc);
    gr_free(ctx, cfg->path);
    gr_free(ctx, cfg->text);
    gr_free(ctx, cfg->checkpoint);
    for (int i = 0; i < cfg->n_plugins; i++) gr_free(ctx, cfg->plugins[i]);
    gr_free(ctx, cfg->plugins);
    gr_free(ctx, cfg->plugins_at);
    gr_free(ctx, cfg->train_data.images);
    gr_free(ctx, cfg->train_data.labels);
    gr_free(ctx, cfg->test_data.images);
    gr_free(ctx, cfg->test_data.labels);
    memset(cfg, 0, sizeof *cfg);
}
