#include "runtime/engine/schedule.h"

#include <stdio.h>
#include <string.h>

static struct gr_sched_args args_at(const struct gr_sched *s, int64_t x) {
    return (struct gr_sched_args){s->cfg.hp, s->cfg.list, s->cfg.n_list, s->cfg.given, s->base, x, s->horizon};
}

int64_t gr_sched_position(const struct gr_sched *s, int64_t t) {
    int64_t k = t - 1 - s->warmup;
    if (k < 0) return 0;
    return s->cfg.epochs ? k * s->batch / s->samples : k;
}

int gr_sched_init(struct gr_sched *s, const struct gr_sched_cfg *cfg, double base, int64_t steps, int64_t batch,
                  int64_t samples, char *msg, size_t len, int *bad_key) {
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->base = base;
    s->batch = batch;
    s->samples = samples;
    /* a warmup in epochs lasts the steps those epochs take */
    s->warmup = cfg->warmup_epochs ? (cfg->warmup * samples + batch - 1) / batch : cfg->warmup;
    *bad_key = GR_SCHED_AT_WARMUP;
    if (s->warmup >= steps)
        return snprintf(msg, len, "%lld step%s %s not shorter than the run (%lld step%s)", (long long)s->warmup,
                        s->warmup == 1 ? "" : "s", s->warmup == 1 ? "is" : "are", (long long)steps,
                        steps == 1 ? "" : "s"), -1;
    s->horizon = gr_sched_position(s, steps) + 1;
    const struct gr_sched_desc *d = cfg->desc;
    for (int k = 0; k < d->n_keys; k++)
        if (d->keys[k].def_horizon && !cfg->given[k]) s->cfg.hp[k] = (double)s->horizon;
    struct gr_sched_args a = args_at(s, 0);
    if (d->check && (*bad_key = d->check(&a, msg, len)) >= 0) return -1;
    *bad_key = -1;
    if (d->start) d->start(&a, s->state);
    return 0;
}

double gr_sched_lr(const struct gr_sched *s, int64_t t) {
    struct gr_sched_args a = args_at(s, gr_sched_position(s, t));
    double lr = s->cfg.desc->lr(&a, s->state);
    if (t > s->warmup) return lr;
    double start = s->cfg.warmup_start;
    return (start + (1.0 - start) * (double)t / (double)s->warmup) * lr;
}

void gr_sched_observe(struct gr_sched *s, const struct gr_sched_metrics *m) {
    if (!s->cfg.desc->observe) return;
    struct gr_sched_args a = args_at(s, 0);
    s->cfg.desc->observe(&a, s->state, m);
}
