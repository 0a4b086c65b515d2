#include "runtime/session/watch.h"

#include <stdio.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/base/fs.h"
#include "runtime/session/evaluate.h"
#include "runtime/session/state.h"

const char *gr_metric_name(int metric) { return metric == GR_METRIC_ACCURACY ? "accuracy" : "loss"; }

static double metric_of(const struct gr_measure *m, enum gr_metric metric) {
    return metric == GR_METRIC_ACCURACY ? m->accuracy : m->loss;
}

/* Keras's EarlyStopping: better by more than min_delta, or one more bad
 * evaluation; out of patience after `patience` bad ones in a row. */
static void watch_stop(struct gr_session *s, int64_t step, const struct gr_measure *m, struct gr_watch_news *news) {
    const struct gr_stop_cfg *st = &s->cfg->early;
    struct gr_watch *w = &s->watch;
    double now = metric_of(m, st->metric);
    int better = st->maximize ? now - st->min_delta > w->best : now + st->min_delta < w->best;
    if (better) {
        w->best = now;
        w->best_step = step;
        w->bad = 0;
        memcpy(w->best_param, s->g.param, (size_t)s->g.param_floats * sizeof(float));
        news->improved = 1;
    } else if (++w->bad >= st->patience) {
        w->stopped = step;
        news->stop = 1;
    }
}

void gr_watch_eval(struct gr_session *s, int64_t step, double epoch, const struct gr_measure *m,
                   struct gr_watch_news *news) {
    const struct gr_config *cfg = s->cfg;
    struct gr_watch *w = &s->watch;
    memset(news, 0, sizeof *news);
    struct gr_sched_metrics sm = {m->loss, m->accuracy, m->has_loss, 1};
    gr_sched_observe(&s->sched, &sm);
    if (cfg->early.on && !w->stopped) watch_stop(s, step, m, news);
    const struct gr_target_cfg *tg = &cfg->target;
    if (!tg->on || w->target_step) return;
    double now = metric_of(m, tg->metric);
    if (tg->metric == GR_METRIC_ACCURACY ? now >= tg->value : now <= tg->value) {
        w->target_step = step;
        w->target_epoch = epoch;
        w->target_train_seconds = s->train_seconds;
        w->target_wall_seconds = s->wall_seconds;
        w->target_measured = now;
        news->reached = 1;
        news->stop |= tg->stop;
    }
}

void gr_watch_swap_best(struct gr_session *s) {
    float *a = s->g.param, *b = s->watch.best_param;
    for (int64_t i = 0; i < s->g.param_floats; i++) {
        float t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}

int gr_watch_write_target(struct gr_ctx *ctx, const struct gr_session *s, const char *dir, int64_t steps) {
    const struct gr_target_cfg *tg = &s->cfg->target;
    const struct gr_watch *w = &s->watch;
    char path[4300], text[640];
    snprintf(path, sizeof path, "%s/target.json", dir);
    int n = snprintf(text, sizeof text, "{\"metric\": \"%s\", \"value\": %.15g, ", gr_metric_name(tg->metric),
                     tg->value);
    if (w->target_step)
        n += snprintf(text + n, sizeof text - (size_t)n,
                      "\"reached\": true, \"step\": %lld, \"epoch\": %.5f, \"measured\": %.6f, \"train_seconds\": "
                      "%.3f, \"wall_seconds\": %.3f}\n",
                      (long long)w->target_step, w->target_epoch, w->target_measured, w->target_train_seconds,
                      w->target_wall_seconds);
    else
        n += snprintf(text + n, sizeof text - (size_t)n, "\"reached\": false, \"steps\": %lld}\n", (long long)steps);
    return gr_replace_file(ctx, path, "", text, (size_t)n);
}
