/* The train section: the loss, the optimizer and its keys from its
 * descriptor, the schedule (schedule.c), batch, length, seed, threads,
 * checkpoints, clipping, early stopping and the target. */
#include <stdio.h>
#include <string.h>

#include "runtime/config/sections.h"
#include "runtime/host/registry.h"

#define F (cfg->doc.file)

static const char *const train_keys[] = {"loss",       "optimizer", "schedule", "batch_size", "steps",
                                         "epochs",     "seed",      "threads",  "checkpoint", "log_every",
                                         "clip",       "early_stopping", "target", NULL};
static const char *const checkpoint_keys[] = {"path", "every", NULL};
static const char *const clip_keys[] = {"norm", "value", NULL};
static const char *const stop_keys[] = {"metric", "mode", "patience", "min_delta", NULL};
static const char *const target_keys[] = {"metric", "value", "stop", NULL};
static const char *const metric_names[] = {"loss", "accuracy", NULL};
static const char *const mode_names[] = {"auto", "min", "max", NULL};

/* One optimizer key by its spec: a number in its range, or a boolean. */
static int read_optim_key(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_optim_key *k,
                          const struct gr_ynode *v, double *out) {
    char what[96];
    snprintf(what, sizeof what, "train.optimizer.%s", k->name);
    if (k->type == GR_OPTIM_BOOL) {
        int b;
        if (gr_read_bool(ctx, F, v, what, &b)) return -1;
        *out = b;
        return 0;
    }
    if (k->above_min) return gr_read_float_above(ctx, F, v, k->min, k->max, what, out);
    return gr_read_float(ctx, F, v, k->min, k->max, what, out);
}

/* weight_decay_exclude: glob patterns of parameter names ("*.bias"), which
 * the session matches against the graph's parameters. */
static int read_decay_exclude(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_ynode *list) {
    const char *what = "train.optimizer.weight_decay_exclude";
    if (gr_need_kind(ctx, F, list, GR_Y_SEQ, what)) return -1;
    if (list->n > GR_MAX_DECAY_EXCLUDE)
        return gr_fail_node(ctx, F, list->items[GR_MAX_DECAY_EXCLUDE], "%s: at most %d patterns, got %d", what,
                            GR_MAX_DECAY_EXCLUDE, list->n);
    for (int i = 0; i < list->n; i++) {
        char at[96];
        snprintf(at, sizeof at, "%s[%d]", what, i);
        if (gr_read_string(ctx, F, list->items[i], at, &cfg->decay_exclude[i])) return -1;
        if (!cfg->decay_exclude[i][0]) return gr_fail_node(ctx, F, list->items[i], "%s: an empty pattern", at);
        cfg->decay_exclude_at[i] = list->items[i];
    }
    cfg->n_decay_exclude = list->n;
    return 0;
}

/* The keys optimizer d takes, NULL-terminated: name, lr, its own, and
 * weight_decay_exclude when it has a weight_decay. */
static void optimizer_keys(const struct gr_optim_desc *d, const char **keys) {
    int n = 0;
    keys[n++] = "name";
    keys[n++] = "lr";
    for (int k = 0; k < d->n_keys; k++) keys[n++] = d->keys[k].name;
    if (gr_optim_key_index(d, "weight_decay") >= 0) keys[n++] = "weight_decay_exclude";
    keys[n] = NULL;
}

/* train.optimizer: `name` picks a registered optimizer, whose descriptor
 * says which other keys it takes besides `lr`. */
static int read_optimizer(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_ynode *o) {
    if (gr_need_kind(ctx, F, o, GR_Y_MAP, "train.optimizer")) return -1;
    cfg->optim_at = o;
    const struct gr_ynode *name = gr_config_need(ctx, cfg, o, "name", "train.optimizer");
    const char *names[GR_MAX_OPTIMIZERS + 1];
    int n = 0, kind;
    for (; n < ctx->reg->n_optims && n < GR_MAX_OPTIMIZERS; n++) names[n] = ctx->reg->optims[n]->name;
    names[n] = NULL;
    if (!name || gr_read_choice(ctx, F, name, names, "train.optimizer.name", &kind)) return -1;
    const struct gr_optim_desc *d = ctx->reg->optims[kind];
    const char *keys[GR_OPTIM_MAX_KEYS + 4];
    optimizer_keys(d, keys);
    char where[96];
    snprintf(where, sizeof where, "train.optimizer (%s)", d->name);
    if (gr_config_check_owned_keys(ctx, cfg, o, keys, where, 0)) return -1;
    const struct gr_ynode *lr = gr_config_need(ctx, cfg, o, "lr", "train.optimizer");
    static const struct gr_optim_key lr_key = {"lr", GR_OPTIM_FLOAT, "learning rate", 0.01, 0.0, 1e3, 1};
    double rate;
    if (!lr || read_optim_key(ctx, cfg, &lr_key, lr, &rate)) return -1;
    gr_optim_cfg_defaults(&cfg->optim, d, rate);
    for (int k = 0; k < d->n_keys; k++) {
        const struct gr_ynode *v = gr_ymap_get(o, d->keys[k].name);
        if (v && read_optim_key(ctx, cfg, &d->keys[k], v, &cfg->optim.hp[k])) return -1;
    }
    const struct gr_ynode *v = gr_ymap_get(o, "weight_decay_exclude");
    if (v && read_decay_exclude(ctx, cfg, v)) return -1;
    char msg[256];
    int bad = d->check ? d->check(cfg->optim.hp, msg, sizeof msg) : -1;
    if (bad >= 0) {
        const struct gr_ynode *at = gr_ymap_get(o, d->keys[bad].name);
        return gr_fail_node(ctx, F, at ? at : o, "train.optimizer.%s: %s", d->keys[bad].name, msg);
    }
    return 0;
}

static int read_checkpoint(struct gr_ctx *ctx, struct gr_config *cfg, const char *dir, const struct gr_ynode *c) {
    if (gr_need_kind(ctx, F, c, GR_Y_MAP, "train.checkpoint")) return -1;
    if (gr_check_keys(ctx, F, c, checkpoint_keys, "train.checkpoint")) return -1;
    const struct gr_ynode *v = gr_ymap_get(c, "path");
    const char *p;
    cfg->checkpoint_at = c;
    if (v) {
        if (gr_read_string(ctx, F, v, "train.checkpoint.path", &p)) return -1;
        cfg->checkpoint_at = v;
        if (!(cfg->checkpoint = gr_config_resolve(ctx, dir, p))) return -1;
    }
    if ((v = gr_ymap_get(c, "every")) &&
        gr_read_int(ctx, F, v, 1, INT32_MAX, "train.checkpoint.every", &cfg->checkpoint_every))
        return -1;
    return 0;
}

/* train.clip: {norm: N} scales the gradient down to global norm N when it
 * is longer; {value: V} clamps every element to [-V, V]. One of them. */
static int read_clip(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_ynode *c) {
    if (gr_need_kind(ctx, F, c, GR_Y_MAP, "train.clip")) return -1;
    if (gr_check_keys(ctx, F, c, clip_keys, "train.clip")) return -1;
    const struct gr_ynode *norm = gr_ymap_get(c, "norm"), *value = gr_ymap_get(c, "value");
    if (norm && value) return gr_fail_node(ctx, F, value, "train.clip: give either 'norm' or 'value', not both");
    if (!norm && !value) return gr_fail_missing(ctx, F, c, gr_ymap_removed_by(c, "norm") ? "norm" : "value",
                                                 "train.clip: missing 'norm' (or 'value')");
    if (norm) return gr_read_float_above(ctx, F, norm, 0, 1e30, "train.clip.norm", &cfg->clip_norm);
    return gr_read_float_above(ctx, F, value, 0, 1e30, "train.clip.value", &cfg->clip_value);
}

/* A metric key (loss or accuracy; `def` when absent). */
static int read_metric(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_ynode *map, const char *what,
                       enum gr_metric def, enum gr_metric *out, const struct gr_ynode **at) {
    const struct gr_ynode *v = gr_ymap_get(map, "metric");
    *out = def;
    *at = v ? v : map;
    int k;
    if (v && gr_read_choice(ctx, F, v, metric_names, what, &k)) return -1;
    if (v) *out = k ? GR_METRIC_ACCURACY : GR_METRIC_LOSS;
    return 0;
}

/* train.early_stopping: metric (loss), mode (auto), patience, min_delta (0). */
static int read_early_stopping(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_ynode *e) {
    struct gr_stop_cfg *st = &cfg->early;
    if (gr_need_kind(ctx, F, e, GR_Y_MAP, "train.early_stopping")) return -1;
    if (gr_check_keys(ctx, F, e, stop_keys, "train.early_stopping")) return -1;
    st->on = 1;
    st->at = e;
    if (read_metric(ctx, cfg, e, "train.early_stopping.metric", GR_METRIC_LOSS, &st->metric, &st->metric_at))
        return -1;
    const struct gr_ynode *v;
    int mode = 0;
    if ((v = gr_ymap_get(e, "mode")) && gr_read_choice(ctx, F, v, mode_names, "train.early_stopping.mode", &mode))
        return -1;
    st->maximize = mode == 2 || (mode == 0 && st->metric == GR_METRIC_ACCURACY);
    if (!(v = gr_config_need(ctx, cfg, e, "patience", "train.early_stopping")) ||
        gr_read_int(ctx, F, v, 0, INT32_MAX, "train.early_stopping.patience", &st->patience))
        return -1;
    if ((v = gr_ymap_get(e, "min_delta")) &&
        gr_read_float(ctx, F, v, 0, 1e30, "train.early_stopping.min_delta", &st->min_delta))
        return -1;
    return 0;
}

/* train.target: metric (accuracy), value, stop (false). */
static int read_target(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_ynode *t) {
    struct gr_target_cfg *tg = &cfg->target;
    if (gr_need_kind(ctx, F, t, GR_Y_MAP, "train.target")) return -1;
    if (gr_check_keys(ctx, F, t, target_keys, "train.target")) return -1;
    tg->on = 1;
    tg->at = t;
    if (read_metric(ctx, cfg, t, "train.target.metric", GR_METRIC_ACCURACY, &tg->metric, &tg->metric_at)) return -1;
    const struct gr_ynode *v = gr_config_need(ctx, cfg, t, "value", "train.target");
    int acc = tg->metric == GR_METRIC_ACCURACY;
    if (!v || gr_read_float(ctx, F, v, acc ? 0 : -1e30, acc ? 1 : 1e30, "train.target.value", &tg->value)) return -1;
    if ((v = gr_ymap_get(t, "stop")) && gr_read_bool(ctx, F, v, "train.target.stop", &tg->stop)) return -1;
    return 0;
}

/* steps or epochs (exactly one), seed, threads, log_every */
static int read_length(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_ynode *t) {
    const struct gr_ynode *steps = gr_ymap_get(t, "steps"), *epochs = gr_ymap_get(t, "epochs"), *v;
    if (steps && epochs) return gr_fail_node(ctx, F, epochs, "train: give either 'steps' or 'epochs', not both");
    if (!steps && !epochs) return gr_fail_missing(ctx, F, t, gr_ymap_removed_by(t, "steps") ? "steps" : "epochs",
                                                   "train: missing 'steps' (or 'epochs')");
    if (steps && gr_read_int(ctx, F, steps, 1, INT32_MAX, "train.steps", &cfg->steps)) return -1;
    if (epochs && gr_read_int(ctx, F, epochs, 1, 100000, "train.epochs", &cfg->epochs)) return -1;
    int64_t seed = 0;
    if ((v = gr_ymap_get(t, "seed")) && gr_read_int(ctx, F, v, 0, INT64_MAX, "train.seed", &seed)) return -1;
    cfg->seed = (uint64_t)seed;
    int64_t threads = 0;
    if ((v = gr_ymap_get(t, "threads")) && gr_read_int(ctx, F, v, 0, 64, "train.threads", &threads)) return -1;
    cfg->threads = (int)threads;
    cfg->log_every = 10;
    if ((v = gr_ymap_get(t, "log_every")) && gr_read_int(ctx, F, v, 1, INT32_MAX, "train.log_every", &cfg->log_every))
        return -1;
    return 0;
}

int gr_config_read_train(struct gr_ctx *ctx, struct gr_config *cfg, const char *dir, const struct gr_ynode *t) {
    if (gr_need_kind(ctx, F, t, GR_Y_MAP, "train")) return -1;
    if (gr_check_keys(ctx, F, t, train_keys, "train")) return -1;
    const struct gr_ynode *v;
    if (!(v = gr_config_need(ctx, cfg, t, "loss", "train")) || gr_read_string(ctx, F, v, "train.loss", &cfg->loss))
        return -1;
    cfg->loss_at = v;
    if (!(v = gr_config_need(ctx, cfg, t, "optimizer", "train")) || read_optimizer(ctx, cfg, v)) return -1;
    if (gr_config_read_schedule(ctx, cfg, gr_ymap_get(t, "schedule"))) return -1;
    if (!(v = gr_config_need(ctx, cfg, t, "batch_size", "train")) ||
        gr_read_int(ctx, F, v, 1, 1 << 20, "train.batch_size", &cfg->batch_size))
        return -1;
    cfg->batch_size_at = v;
    if (read_length(ctx, cfg, t)) return -1;
    if ((v = gr_ymap_get(t, "checkpoint")) && read_checkpoint(ctx, cfg, dir, v)) return -1;
    if ((v = gr_ymap_get(t, "clip")) && read_clip(ctx, cfg, v)) return -1;
    if ((v = gr_ymap_get(t, "early_stopping")) && read_early_stopping(ctx, cfg, v)) return -1;
    if ((v = gr_ymap_get(t, "target")) && read_target(ctx, cfg, v)) return -1;
    return 0;
}

int gr_config_check_watchers(struct gr_ctx *ctx, struct gr_config *cfg) {
    const struct gr_ynode *at = NULL;
    const char *what = NULL;
    if (cfg->early.on) at = cfg->early.at, what = "train.early_stopping";
    else if (cfg->target.on) at = cfg->target.at, what = "train.target";
    else if (cfg->sched.desc->observe) at = cfg->sched_at, what = "train.schedule";
    if (!at || cfg->has_eval) return 0;
    /* at the --unset that removed the eval section, if one did */
    const struct gr_ynode *gone = gr_ymap_removed_by(cfg->doc.root, "eval") ? cfg->doc.root : at;
    return gr_fail_missing(ctx, F, gone, "eval", "%s: needs the periodic evaluation; add an eval section naming the logits",
                           what);
}
