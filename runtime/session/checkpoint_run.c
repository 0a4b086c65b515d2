/* A training run's metadata beyond its position: written as strings of
 * numbers (%.17g, so a double reads back exactly), read back and checked
 * before anything is applied. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/session/checkpoint_format.h"
#include "runtime/session/state.h"

/* "v0 v1 ..." of n doubles */
static void put_numbers(json_t *meta, const char *key, const double *v, int n) {
    char text[256];
    size_t used = 0;
    text[0] = 0;
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "%s%.17g", i ? " " : "", v[i]);
    json_object_set_new(meta, key, json_string(text));
}

void gr_ckpt_put_run(json_t *meta, const struct gr_session *s) {
    const struct gr_config *cfg = s->cfg;
    const struct gr_watch *w = &s->watch;
    put_numbers(meta, "norm_sum", &s->norm_sum, 1);
    put_numbers(meta, "train_seconds", &s->train_seconds, 1);
    put_numbers(meta, "wall_seconds", &s->wall_seconds, 1);
    json_object_set_new(meta, "schedule", json_string(s->sched.cfg.desc->name));
    put_numbers(meta, "schedule_state", s->sched.state, s->sched.cfg.desc->n_state);
    if (cfg->early.on) {
        double v[4] = {w->best, (double)w->best_step, (double)w->bad, (double)w->stopped};
        put_numbers(meta, "early_stopping", v, 4);
    }
    if (cfg->target.on) {
        double v[5] = {(double)w->target_step, w->target_epoch, w->target_train_seconds, w->target_wall_seconds,
                       w->target_measured};
        put_numbers(meta, "target", v, 5);
    }
}

/* n numbers of metadata `key` into v: 1 read, 0 absent, -1 malformed (nan,
 * or not n numbers). */
static int get_numbers(struct gr_ctx *ctx, const char *name, json_t *meta, const char *key, double *v, int n) {
    const char *text = json_string_value(json_object_get(meta, key));
    if (!text) return 0;
    const char *p = text;
    for (int i = 0; i < n; i++) {
        char *end;
        v[i] = strtod(p, &end);
        if (end == p || isnan(v[i]) || (*end && *end != ' ')) break;
        p = end;
        if (i == n - 1 && *p == 0) return 1;
    }
    return gr_fail(ctx, "%s: metadata '%s' is not %d number%s: '%.60s'", name, key, n, n == 1 ? "" : "s", text);
}

/* v is a whole number in [lo, hi] */
static int whole(double v, double lo, double hi) { return v >= lo && v <= hi && v == floor(v); }

static int bad_value(struct gr_ctx *ctx, const char *name, const char *key) {
    return gr_fail(ctx, "%s: metadata '%s' holds a value no run writes", name, key);
}

int gr_ckpt_get_run(struct gr_ctx *ctx, const char *name, json_t *meta, const struct gr_session *s, int64_t step,
                    struct gr_ckpt_run *r) {
    memset(r, 0, sizeof *r);
    double big = (double)step;
    const char *keys[3] = {"norm_sum", "train_seconds", "wall_seconds"};
    double *out[3] = {&r->norm_sum, &r->train_seconds, &r->wall_seconds};
    for (int k = 0; k < 3; k++) {
        int got = get_numbers(ctx, name, meta, keys[k], out[k], 1);
        if (got < 0) return -1;
        if (got && !(isfinite(*out[k]) && *out[k] >= 0)) return bad_value(ctx, name, keys[k]);
    }
    const struct gr_sched_desc *sd = s->sched.cfg.desc;
    const char *sched = json_string_value(json_object_get(meta, "schedule"));
    /* the state of the schedule this run runs; another's is not used */
    if (sched && strcmp(sched, sd->name) == 0 && sd->n_state) {
        if ((r->has_sched = get_numbers(ctx, name, meta, "schedule_state", r->sched, sd->n_state)) < 0) return -1;
    }
    if (s->cfg->early.on && (r->has_stop = get_numbers(ctx, name, meta, "early_stopping", r->stop, 4)) != 0) {
        if (r->has_stop < 0) return -1;
        if (!whole(r->stop[1], 0, big) || !whole(r->stop[2], 0, big) || !whole(r->stop[3], 0, big))
            return bad_value(ctx, name, "early_stopping");
    }
    if (s->cfg->target.on && (r->has_target = get_numbers(ctx, name, meta, "target", r->target, 5)) != 0) {
        if (r->has_target < 0) return -1;
        int ok = whole(r->target[0], 0, big);
        for (int k = 1; k < 4; k++) ok &= isfinite(r->target[k]) && r->target[k] >= 0;
        if (!ok) return bad_value(ctx, name, "target");
    }
    return 0;
}

void gr_ckpt_apply_run(struct gr_session *s, const struct gr_ckpt_run *r) {
    struct gr_watch *w = &s->watch;
    s->norm_sum = r->norm_sum;
    s->train_seconds = r->train_seconds;
    s->wall_seconds = r->wall_seconds;
    if (r->has_sched) memcpy(s->sched.state, r->sched, (size_t)s->sched.cfg.desc->n_state * sizeof(double));
    if (r->has_stop) {
        w->best = r->stop[0];
        w->best_step = (int64_t)r->stop[1];
        w->bad = (int64_t)r->stop[2];
        w->stopped = (int64_t)r->stop[3];
    }
    if (r->has_target) {
        w->target_step = (int64_t)r->target[0];
        w->target_epoch = r->target[1];
        w->target_train_seconds = r->target[2];
        w->target_wall_seconds = r->target[3];
        w->target_measured = r->target[4];
    }
}
