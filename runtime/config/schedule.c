/* train.schedule: `name` picks a registered schedule (constant when the
 * section is absent), whose descriptor says which keys it takes besides
 * name, unit (steps or epochs) and warmup ({steps: N} or {epochs: N}, and
 * start, the first step's share of the rate). A bare name is a schedule
 * with its defaults: `schedule: cosine`. Checks that need the run's length
 * (a warmup longer than the run, a milestone after its end) come when the
 * session knows it (runtime/session/optimize.c). */
#include <stdio.h>
#include <string.h>

#include "runtime/config/sections.h"
#include "runtime/host/registry.h"
#include "runtime/optim/optimizer.h"

#define F (cfg->doc.file)

static const char *const unit_names[] = {"steps", "epochs", NULL};
static const char *const warmup_keys[] = {"steps", "epochs", "start", NULL};

/* "a, b and c" (with `and`, else "a, b, c") of the n names into buf */
static void join(char *buf, size_t len, const char *const *names, int n, int and) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i == 0 ? "" : and && i == n - 1 ? " and " : ", ",
                                 names[i]);
}

/* The optimizers (or schedules) with a key `key`, into names; their count. */
static int owners(const struct gr_registry *reg, const char *key, int schedules, const char **names, int cap) {
    int n = 0;
    if (schedules) {
        for (int i = 0; i < reg->n_scheds && n < cap; i++)
            if (gr_sched_key_index(reg->scheds[i], key) >= 0) names[n++] = reg->scheds[i]->name;
        return n;
    }
    for (int i = 0; i < reg->n_optims && n < cap; i++) {
        const struct gr_optim_desc *d = reg->optims[i];
        int decays = gr_optim_key_index(d, "weight_decay") >= 0;
        if (gr_optim_key_index(d, key) >= 0 || (decays && strcmp(key, "weight_decay_exclude") == 0))
            names[n++] = d->name;
    }
    return n;
}

int gr_config_check_owned_keys(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_ynode *map,
                               const char *const *allowed, const char *what, int in_schedule) {
    for (int i = 0; i < map->n; i++) {
        const char *key = gr_ymap_key(map, i)->str;
        int ok = 0;
        for (int j = 0; allowed[j] && !ok; j++) ok = strcmp(key, allowed[j]) == 0;
        if (ok) continue;
        const char *names[GR_MAX_OPTIMIZERS + GR_MAX_SCHEDULES];
        char who[512], list[512];
        /* other descriptors of this section first, then of the other */
        int n = owners(ctx->reg, key, in_schedule, names, GR_MAX_OPTIMIZERS), other = 0;
        if (n == 0 && (n = owners(ctx->reg, key, !in_schedule, names, GR_MAX_OPTIMIZERS))) other = 1;
        if (n == 0) return gr_check_keys(ctx, F, map, allowed, what);
        join(who, sizeof who, names, n, 1);
        int n_allowed = 0;
        while (allowed[n_allowed]) n_allowed++;
        join(list, sizeof list, allowed, n_allowed, 0);
        return gr_fail_node(ctx, F, gr_ymap_key(map, i),
                            "unknown key '%s' in %s: a key of %s%s%s%s (expected one of: %s)", key, what,
                            other ? (in_schedule ? "train.optimizer" : "train.schedule") : "", other ? " (" : "", who,
                            other ? ")" : "", list);
    }
    return 0;
}

/* An increasing list of integers, each in the key's range. */
static int read_int_list(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_sched_key *k,
                         const struct gr_ynode *v, const char *what) {
    struct gr_sched_cfg *sc = &cfg->sched;
    if (gr_need_kind(ctx, F, v, GR_Y_SEQ, what)) return -1;
    if (v->n < 1 || v->n > GR_SCHED_MAX_LIST)
        return gr_fail_node(ctx, F, v, "%s: expected 1 to %d values, got %d", what, GR_SCHED_MAX_LIST, v->n);
    for (int i = 0; i < v->n; i++) {
        char at[128];
        snprintf(at, sizeof at, "%s[%d]", what, i);
        if (gr_read_int(ctx, F, v->items[i], (int64_t)k->min, (int64_t)k->max, at, &sc->list[i])) return -1;
        if (i > 0 && sc->list[i] <= sc->list[i - 1])
            return gr_fail_node(ctx, F, v->items[i],
                                "%s: %lld is not above the value before it (%lld); %s must increase", at,
                                (long long)sc->list[i], (long long)sc->list[i - 1], k->name);
    }
    sc->n_list = v->n;
    return 0;
}

static int read_sched_key(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_sched_key *k,
                          const struct gr_ynode *v, double *out) {
    char what[96];
    snprintf(what, sizeof what, "train.schedule.%s", k->name);
    int b;
    int64_t i;
    switch (k->type) {
    case GR_SCHED_FLOAT:
        if (k->above_min) return gr_read_float_above(ctx, F, v, k->min, k->max, what, out);
        return gr_read_float(ctx, F, v, k->min, k->max, what, out);
    case GR_SCHED_INT:
        if (gr_read_int(ctx, F, v, (int64_t)k->min, (int64_t)k->max, what, &i)) return -1;
        *out = (double)i;
        return 0;
    case GR_SCHED_BOOL:
        if (gr_read_bool(ctx, F, v, what, &b)) return -1;
        *out = b;
        return 0;
    case GR_SCHED_CHOICE:
        if (gr_read_choice(ctx, F, v, k->choices, what, &b)) return -1;
        *out = b;
        return 0;
    case GR_SCHED_INT_LIST:
        return read_int_list(ctx, cfg, k, v, what);
    }
    return -1;
}

/* warmup: {steps: N} or {epochs: N}, and start in [0, 1) (default 0) */
static int read_warmup(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_ynode *w) {
    struct gr_sched_cfg *sc = &cfg->sched;
    const char *what = "train.schedule.warmup";
    if (gr_need_kind(ctx, F, w, GR_Y_MAP, what) || gr_check_keys(ctx, F, w, warmup_keys, what)) return -1;
    const struct gr_ynode *steps = gr_ymap_get(w, "steps"), *epochs = gr_ymap_get(w, "epochs");
    const struct gr_ynode *start = gr_ymap_get(w, "start");
    if (steps && epochs) return gr_fail_node(ctx, F, epochs, "%s: give either 'steps' or 'epochs', not both", what);
    if (!steps && !epochs) return gr_fail_missing(ctx, F, w, gr_ymap_removed_by(w, "steps") ? "steps" : "epochs",
                                                  "%s: missing 'steps' (or 'epochs')", what);
    sc->warmup_epochs = epochs != NULL;
    cfg->warmup_at = steps ? steps : epochs;
    if (gr_read_int(ctx, F, cfg->warmup_at, 1, INT32_MAX, steps ? "train.schedule.warmup.steps"
                                                              : "train.schedule.warmup.epochs", &sc->warmup))
        return -1;
    if (start && gr_read_float(ctx, F, start, 0, 0.999999, "train.schedule.warmup.start", &sc->warmup_start))
        return -1;
    return 0;
}

/* The keys schedule d takes, NULL-terminated. */
static void schedule_keys(const struct gr_sched_desc *d, const char **keys) {
    int n = 0;
    keys[n++] = "name";
    keys[n++] = "unit";
    keys[n++] = "warmup";
    for (int k = 0; k < d->n_keys; k++) keys[n++] = d->keys[k].name;
    keys[n] = NULL;
}

/* Its keys' values, the defaults where the config is silent. */
static int read_keys(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_sched_desc *d,
                     const struct gr_ynode *map) {
    struct gr_sched_cfg *sc = &cfg->sched;
    for (int k = 0; k < d->n_keys; k++) {
        sc->hp[k] = d->keys[k].def;
        const struct gr_ynode *v = map ? gr_ymap_get(map, d->keys[k].name) : NULL;
        if (!v && d->keys[k].required) {
            char where[96];
            snprintf(where, sizeof where, "train.schedule (%s)", d->name);
            return gr_config_need(ctx, cfg, map ? map : cfg->sched_at, d->keys[k].name, where) ? 0 : -1;
        }
        if (!v) continue;
        sc->given[k] = 1;
        cfg->sched_key_at[k] = v;
        if (read_sched_key(ctx, cfg, &d->keys[k], v, &sc->hp[k])) return -1;
    }
    return 0;
}

int gr_config_read_schedule(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_ynode *node) {
    struct gr_sched_cfg *sc = &cfg->sched;
    memset(sc, 0, sizeof *sc);
    sc->desc = ctx->reg->scheds[0];
    if (!node) return read_keys(ctx, cfg, sc->desc, NULL);
    cfg->sched_at = node;
    const struct gr_ynode *name = node;
    if (node->kind != GR_Y_SCALAR) {
        if (gr_need_kind(ctx, F, node, GR_Y_MAP, "train.schedule")) return -1;
        if (!(name = gr_config_need(ctx, cfg, node, "name", "train.schedule"))) return -1;
    }
    const char *names[GR_MAX_SCHEDULES + 1];
    int n = 0, kind;
    for (; n < ctx->reg->n_scheds && n < GR_MAX_SCHEDULES; n++) names[n] = ctx->reg->scheds[n]->name;
    names[n] = NULL;
    if (gr_read_choice(ctx, F, name, names, "train.schedule.name", &kind)) return -1;
    sc->desc = ctx->reg->scheds[kind];
    if (node->kind == GR_Y_SCALAR) return read_keys(ctx, cfg, sc->desc, NULL);
    const char *keys[GR_SCHED_MAX_KEYS + 4];
    schedule_keys(sc->desc, keys);
    char where[96];
    snprintf(where, sizeof where, "train.schedule (%s)", sc->desc->name);
    if (gr_config_check_owned_keys(ctx, cfg, node, keys, where, 1)) return -1;
    const struct gr_ynode *v;
    if ((v = gr_ymap_get(node, "unit")) && gr_read_choice(ctx, F, v, unit_names, "train.schedule.unit", &sc->epochs))
        return -1;
    if ((v = gr_ymap_get(node, "warmup")) && read_warmup(ctx, cfg, v)) return -1;
    return read_keys(ctx, cfg, sc->desc, node);
}
