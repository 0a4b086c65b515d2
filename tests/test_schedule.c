/* Learning-rate schedules: each built-in one worked by hand at the
 * positions where its shape shows; the warmup composed with a schedule; the
 * epoch unit changing the rate where an epoch ends; the run-length checks;
 * descriptors refused as they register; and every schedule against
 * PyTorch's schedulers (tests/fixtures/optim.json, written by
 * tools/torch_optim_fixtures.py): the rate of every step within 1e-12
 * relative (both compute in double; torch multiplies step by step where
 * graphrun uses the closed form). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "helpers.h"
#include "runtime/engine/schedule.h"
#include "runtime/host/registry.h"

#define PI 3.14159265358979323846

static const struct gr_sched_desc *find(const char *name) {
    for (int i = 0; i < gr_sched_builtin_count; i++)
        if (strcmp(gr_sched_builtin[i]->name, name) == 0) return gr_sched_builtin[i];
    cr_assert_fail("no built-in schedule '%s'", name);
    return NULL;
}

/* A schedule by name, its keys at their defaults but for the (key, value)
 * pairs that follow, ended by NULL. */
static struct gr_sched_cfg cfg_of(const char *name, ...) {
    struct gr_sched_cfg c;
    memset(&c, 0, sizeof c);
    c.desc = find(name);
    for (int k = 0; k < c.desc->n_keys; k++) c.hp[k] = c.desc->keys[k].def;
    va_list ap;
    va_start(ap, name);
    for (const char *key; (key = va_arg(ap, const char *));) {
        int k = gr_sched_key_index(c.desc, key);
        cr_assert_geq(k, 0, "schedule '%s' has no key '%s'", name, key);
        c.hp[k] = va_arg(ap, double);
        c.given[k] = 1;
    }
    va_end(ap);
    return c;
}

/* The rates of steps 1..n of a run of `steps` steps (batch 1 of 1 sample:
 * one position a step) against want[]. */
static void expect_rates(const struct gr_sched_cfg *c, double base, int64_t steps, const double *want, int n) {
    struct gr_sched s;
    char msg[256];
    int bad;
    cr_assert_eq(gr_sched_init(&s, c, base, steps, 1, 1, msg, sizeof msg, &bad), 0, "%s: %s", c->desc->name, msg);
    for (int t = 1; t <= n; t++) {
        double got = gr_sched_lr(&s, t);
        cr_expect(fabs(got - want[t - 1]) <= 1e-12 * fabs(want[t - 1]) + 1e-15, "%s, step %d: %.17g, expected %.17g",
                  c->desc->name, t, got, want[t - 1]);
    }
}

Test(schedule, constant_step_multistep_and_exponential_by_hand) {
    struct gr_sched_cfg c = cfg_of("constant", NULL);
    expect_rates(&c, 0.3, 5, (double[]){0.3, 0.3, 0.3, 0.3, 0.3}, 5);
    c = cfg_of("step", "every", 3.0, "gamma", 0.5, NULL);
    expect_rates(&c, 1, 10, (double[]){1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125}, 10);
    c = cfg_of("multistep", "gamma", 0.1, NULL);
    c.list[0] = 2, c.list[1] = 5, c.n_list = 2;
    expect_rates(&c, 1, 7, (double[]){1, 1, 0.1, 0.1, 0.1, 0.01, 0.01}, 7);
    c = cfg_of("exponential", "gamma", 0.5, NULL);
    expect_rates(&c, 2, 4, (double[]){2, 1, 0.5, 0.25}, 4);
}

Test(schedule, cosine_with_and_without_restarts_by_hand) {
    /* floor 0.1, rate 1.1, period 4: the middle of a period is 0.6 */
    double q = 0.1 + 0.5 * (1 + cos(PI / 4)), r = 0.1 + 0.5 * (1 + cos(3 * PI / 4));
    struct gr_sched_cfg c = cfg_of("cosine", "floor", 0.1, "period", 4.0, NULL);
    expect_rates(&c, 1.1, 8, (double[]){1.1, q, 0.6, r, 0.1, r, 0.6, q}, 8);
    /* the default period is the run: 8 steps */
    c = cfg_of("cosine", NULL);
    expect_rates(&c, 1, 8, (double[]){1, 0.5 * (1 + cos(PI / 8)), 0.5 * (1 + cos(PI / 4)),
                                      0.5 * (1 + cos(3 * PI / 8)), 0.5}, 5);
    /* SGDR: periods of 2, 4, 8 steps starting at 0, 2, 6 */
    c = cfg_of("cosine", "floor", 0.1, "period", 2.0, "restart", 1.0, "multiplier", 2.0, NULL);
    expect_rates(&c, 1.1, 8, (double[]){1.1, 0.6, 1.1, q, 0.6, r, 1.1, 0.1 + 0.5 * (1 + cos(PI / 8))}, 8);
}

Test(schedule, one_cycle_rises_then_falls_to_its_floor) {
    /* 10 steps, rate 1: from 0.1 up to 1 at x = 0.3 * 10 - 1 = 2, down to 0.001 at x = 9 */
    struct gr_sched_cfg c = cfg_of("one_cycle", "div_factor", 10.0, "final_div_factor", 100.0, NULL);
    double down[10];
    down[0] = 0.1, down[1] = 0.55, down[2] = 1;
    for (int x = 3; x < 10; x++) down[x] = 0.001 + (1 - 0.001) / 2 * (cos(PI * (x - 2) / 7.0) + 1);
    expect_rates(&c, 1, 10, down, 10);
    c = cfg_of("one_cycle", "div_factor", 10.0, "final_div_factor", 100.0, "anneal", 1.0, NULL);
    expect_rates(&c, 1, 10, (double[]){0.1, 0.55, 1, 1 - 0.999 / 7, 1 - 2 * 0.999 / 7}, 5);
}

Test(schedule, reduce_on_plateau_by_hand) {
    /* min, factor 0.5, patience 1, no threshold, cooldown 1, floor 0.2 */
    struct gr_sched_cfg c = cfg_of("reduce_on_plateau", "factor", 0.5, "patience", 1.0, "threshold", 0.0,
                                   "cooldown", 1.0, "floor", 0.2, NULL);
    struct gr_sched s;
    char msg[256];
    int bad;
    cr_assert_eq(gr_sched_init(&s, &c, 1, 100, 1, 1, msg, sizeof msg, &bad), 0, "%s", msg);
    double metric[] = {1.0, 1.0, 1.0, 1.0, 1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95};
    /* bad: 0 1 2>1 drop, cooldown eats one, 1, 2>1 drop, best, 1, 2 drop (floor) ... */
    double want[] = {1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2};
    for (int k = 0; k < 11; k++) {
        struct gr_sched_metrics m = {metric[k], 0, 1, 0};
        gr_sched_observe(&s, &m);
        cr_expect(gr_sched_lr(&s, 1 + k) == want[k], "after metric %d: %g, expected %g", k, gr_sched_lr(&s, 1 + k),
                  want[k]);
    }
    /* accuracy is maximised, and an evaluation without the metric changes nothing */
    c = cfg_of("reduce_on_plateau", "metric", 1.0, "patience", 0.0, NULL);
    cr_assert_eq(gr_sched_init(&s, &c, 1, 100, 1, 1, msg, sizeof msg, &bad), 0, "%s", msg);
    struct gr_sched_metrics up = {9, 0.5, 1, 1}, same = {0, 0.5, 0, 1}, no_acc = {0, 0, 1, 0};
    gr_sched_observe(&s, &up);
    gr_sched_observe(&s, &no_acc);
    cr_expect_eq(gr_sched_lr(&s, 1), 1.0);
    gr_sched_observe(&s, &same);
    cr_expect(fabs(gr_sched_lr(&s, 1) - 0.1) < 1e-15, "%g", gr_sched_lr(&s, 1));
}

/* The warmup rises linearly over its steps to the schedule's first rate;
 * the schedule's clock starts after it. */
Test(schedule, a_warmup_composes_with_any_schedule) {
    struct gr_sched_cfg c = cfg_of("step", "every", 2.0, "gamma", 0.5, NULL);
    c.warmup = 4;
    c.warmup_start = 0.2;
    expect_rates(&c, 1, 12, (double[]){0.4, 0.6, 0.8, 1, 1, 1, 0.5, 0.5, 0.25}, 9);
    c = cfg_of("cosine", NULL);
    c.warmup = 2;
    /* 10 steps: 2 of warmup from 0, then a period of 8 */
    expect_rates(&c, 1, 10, (double[]){0.5, 1, 1, 0.5 * (1 + cos(PI / 8))}, 4);
    c = cfg_of("reduce_on_plateau", NULL);
    c.warmup = 4;
    expect_rates(&c, 2, 10, (double[]){0.5, 1, 1.5, 2, 2}, 5);
}

/* In epochs, the position is the whole epochs done: batch 10 of 25 samples
 * crosses an epoch at steps 4 and 6; a warmup in epochs lasts their steps. */
Test(schedule, an_epoch_schedule_changes_where_an_epoch_ends) {
    struct gr_sched_cfg c = cfg_of("step", "every", 1.0, "gamma", 0.5, NULL);
    c.epochs = 1;
    struct gr_sched s;
    char msg[256];
    int bad;
    cr_assert_eq(gr_sched_init(&s, &c, 1, 9, 10, 25, msg, sizeof msg, &bad), 0, "%s", msg);
    cr_expect_eq(s.horizon, 4);
    double want[] = {1, 1, 1, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125};
    for (int t = 1; t <= 9; t++) cr_expect_eq(gr_sched_lr(&s, t), want[t - 1], "step %d: %g", t, gr_sched_lr(&s, t));
    c.warmup = 1;
    c.warmup_epochs = 1;
    cr_assert_eq(gr_sched_init(&s, &c, 1, 9, 10, 25, msg, sizeof msg, &bad), 0, "%s", msg);
    cr_expect_eq(s.warmup, 3, "one epoch of 25 samples in batches of 10: 3 steps");
}

/* What only the run's length can refuse, with the key at fault. */
Test(schedule, schedules_that_do_not_fit_the_run_are_refused) {
    struct {
        struct gr_sched_cfg c;
        int64_t warmup;
        int key; /* GR_SCHED_AT_WARMUP, or the key's index */
        const char *want;
    } cases[] = {
        {cfg_of("constant", NULL), 10, GR_SCHED_AT_WARMUP, "10 steps are not shorter than the run (10 steps)"},
        {cfg_of("step", "every", 10.0, NULL), 0, 0, "the rate would never drop"},
        {cfg_of("multistep", NULL), 0, 0, "milestone 12 is not inside the 10"},
        {cfg_of("cosine", "floor", 1.0, NULL), 0, 0, "is not below train.optimizer.lr"},
        {cfg_of("cosine", "multiplier", 2.0, NULL), 0, 3, "needs restart: true"},
        {cfg_of("one_cycle", "pct_start", 0.05, NULL), 0, 0, "leaves stretch 1 of the cycle no length"},
    };
    cases[2].c.list[0] = 3, cases[2].c.list[1] = 12, cases[2].c.n_list = 2;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct gr_sched s;
        char msg[256] = "";
        int bad = -9;
        cases[i].c.warmup = cases[i].warmup;
        cr_expect_eq(gr_sched_init(&s, &cases[i].c, 1, 10, 1, 1, msg, sizeof msg, &bad), -1, "case %zu accepted", i);
        cr_expect_eq(bad, cases[i].key, "case %zu: key %d", i, bad);
        cr_expect(strstr(msg, cases[i].want), "case %zu: expected '%s', got '%s'", i, cases[i].want, msg);
    }
}

static double flat_lr(const struct gr_sched_args *a, const double *state) {
    (void)state;
    return a->base;
}

Test(schedule, a_bad_schedule_descriptor_is_refused_at_registration) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    static const struct gr_sched_key unit[] = {{"unit", GR_SCHED_FLOAT, "taken", 1, 0, 2, 0, 0, 0, NULL}};
    static const struct gr_sched_key outside[] = {{"k", GR_SCHED_FLOAT, "k", 3, 0, 2, 0, 0, 0, NULL}};
    static const struct gr_sched_key no_choices[] = {{"k", GR_SCHED_CHOICE, "k", 0, 0, 1, 0, 0, 0, NULL}};
    static const char *const names[] = {"Bad"};
    struct {
        struct gr_sched_desc d;
        const char *want;
    } bad[] = {
        {{.name = "Bad", .title = "t", .summary = "s", .lr = flat_lr}, "must be 1-63 characters"},
        {{.name = "cosine", .title = "t", .summary = "s", .lr = flat_lr}, "already registered"},
        {{.name = "x", .title = "t", .summary = "s"}, "no lr function"},
        {{.name = "x", .title = "t", .summary = "s", .lr = flat_lr, .keys = unit, .n_keys = 1}, "reserved name"},
        {{.name = "x", .title = "t", .summary = "s", .lr = flat_lr, .keys = outside, .n_keys = 1}, "outside its range"},
        {{.name = "x", .title = "t", .summary = "s", .lr = flat_lr, .keys = no_choices, .n_keys = 1}, "needs choices"},
        {{.name = "x", .title = "t", .summary = "s", .lr = flat_lr, .n_state = 1, .state_names = names},
         "invalid name"},
        {{.name = "x", .summary = "s", .lr = flat_lr}, "title and a summary"},
    };
    int before = ctx.reg->n_scheds;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        cr_expect_eq(gr_registry_add_schedule(ctx.reg, &bad[i].d, err, sizeof err), -1, "case %zu accepted", i);
        cr_expect(strstr(err, bad[i].want), "case %zu: expected '%s', got '%s'", i, bad[i].want, err);
    }
    cr_expect_eq(ctx.reg->n_scheds, before, "a refused schedule stayed registered");
    static const struct gr_sched_desc good = {.name = "flat", .title = "flat", .summary = "lr", .lr = flat_lr};
    char err[256] = "";
    cr_expect_eq(gr_registry_add_schedule(ctx.reg, &good, err, sizeof err), 0, "%s", err);
    cr_expect_eq(gr_registry_schedule(ctx.reg, "flat"), &good);
    gr_ctx_free(&ctx);
}

/* ---- against PyTorch ------------------------------------------------------ */

Test(schedule, every_schedule_matches_pytorch_step_by_step) {
    json_error_t e;
    json_t *doc = json_load_file(GR_SOURCE_DIR "/tests/fixtures/optim.json", 0, &e);
    cr_assert_not_null(doc, "tests/fixtures/optim.json:%d: %s", e.line, e.text);
    json_t *cases = json_object_get(doc, "schedules"), *c;
    size_t k;
    int seen[16] = {0};
    json_array_foreach(cases, k, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        struct gr_sched_cfg cfg = cfg_of(json_string_value(json_object_get(c, "schedule")), NULL);
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(c, "keys"), key, v) {
            int i = gr_sched_key_index(cfg.desc, key);
            cr_assert_geq(i, 0, "%s: no key %s", name, key);
            cfg.hp[i] = json_number_value(v);
            cfg.given[i] = 1;
        }
        json_t *list = json_object_get(c, "list"), *metrics = json_object_get(c, "metrics");
        for (size_t i = 0; i < json_array_size(list); i++) cfg.list[i] = json_integer_value(json_array_get(list, i));
        cfg.n_list = (int)json_array_size(list);
        for (int i = 0; i < gr_sched_builtin_count; i++) seen[i] |= gr_sched_builtin[i] == cfg.desc;
        struct gr_sched s;
        char msg[256];
        int bad;
        int64_t steps = json_integer_value(json_object_get(c, "horizon"));
        cr_assert_eq(gr_sched_init(&s, &cfg, json_number_value(json_object_get(c, "base")), steps, 1, 1, msg,
                                   sizeof msg, &bad), 0, "%s: %s", name, msg);
        json_t *lrs = json_object_get(c, "lrs");
        for (int64_t t = 1; t <= steps; t++) {
            if (metrics) {
                struct gr_sched_metrics m = {0, 0, 1, 1};
                m.loss = m.accuracy = json_number_value(json_array_get(metrics, (size_t)t - 1));
                gr_sched_observe(&s, &m);
            }
            double want = json_number_value(json_array_get(lrs, (size_t)t - 1)), got = gr_sched_lr(&s, t);
            cr_expect(fabs(got - want) <= 1e-12 * fabs(want) + 1e-18, "%s, step %lld: %.17g, torch %.17g", name,
                      (long long)t, got, want);
        }
    }
    for (int i = 1; i < gr_sched_builtin_count; i++)
        cr_expect(seen[i], "no PyTorch fixture for schedule %s", gr_sched_builtin[i]->name);
    json_decref(doc);
}
