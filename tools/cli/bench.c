/* graphrun bench: whole epochs and test-set evaluation, timed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "runtime/base/clock.h"
#include "runtime/host/threads.h"
#include "runtime/session/evaluate.h"
#include "runtime/session/leaves.h"
#include "runtime/session/watch.h"
#include "tools/cli/cli.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* What a bench run measured. */
struct bench {
    int64_t per_epoch, batch;
    int threads;
    double epoch_s[1000], eval_s[100], fwd, bwd, eval_flop, acc;
    /* time to the config's target: evaluations every eval.every steps (not
     * timed), the first step whose evaluation reached it */
    int64_t step, target_step;
    double trained, target_s, target_measured, last_measured;
};

/* "  target accuracy >= 0.98: reached at step 850 (epoch 0.91) after 3.10 s of training" */
static void print_target(const struct gr_session *s, const struct bench *bm) {
    const struct gr_target_cfg *tg = &s->cfg->target;
    if (!tg->on) return;
    printf("  target %s %s %g: ", gr_metric_name(tg->metric), tg->metric == GR_METRIC_ACCURACY ? ">=" : "<=",
           tg->value);
    if (bm->target_step)
        printf("reached at step %lld (epoch %.2f) after %.2f s of training: %.4f\n", (long long)bm->target_step,
               (double)bm->target_step * (double)bm->batch / (double)s->train_set.n, bm->target_s,
               bm->target_measured);
    else
        printf("not reached in %lld steps (last evaluation %.4f)\n", (long long)bm->step, bm->last_measured);
}

static void print_bench(const struct cli *o, const struct gr_session *s, struct bench *bm) {
    double sorted[1000];
    memcpy(sorted, bm->epoch_s, (size_t)o->epochs * sizeof *sorted);
    double epoch_med = median(sorted, o->epochs), eval_med = median(bm->eval_s, o->eval_repeats);
    double eval_flop = bm->eval_flop, acc = bm->acc, fwd = bm->fwd, bwd = bm->bwd;
    const double *epoch_s = bm->epoch_s;
    int64_t per_epoch = bm->per_epoch;
    int threads = bm->threads;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = (double)ru.ru_maxrss / 1024.0, train_gflop = (fwd + bwd) * (double)per_epoch / 1e9;
    printf("  test set: %lld images in %.4f s (median of %d), %.1f GFLOP/s, accuracy %.4f\n", (long long)s->test_set.n,
           eval_med, o->eval_repeats, eval_flop / eval_med / 1e9, acc);
    printf("  operations: %.1f GFLOP an epoch (%.1f MFLOP a step), %.2f GFLOP for the test set\n", train_gflop,
           (fwd + bwd) / 1e6, eval_flop / 1e9);
    printf("  peak RSS: %.1f MB\n", rss_mb);
    print_target(s, bm);
    if (!o->json) return;
    printf("{\"tool\": \"graphrun\", \"batch\": %lld, \"threads\": %d, \"steps_per_epoch\": %lld, \"epoch_seconds\": [",
           (long long)bm->batch, threads, (long long)per_epoch);
    for (int e = 0; e < o->epochs; e++) printf("%s%.4f", e ? ", " : "", epoch_s[e]);
    printf("], \"epoch_median\": %.4f, \"step_ms\": %.4f, \"train_gflop_per_epoch\": %.3f, \"train_gflops\": %.2f, "
           "\"eval_seconds\": %.5f, \"eval_gflops\": %.2f, \"accuracy\": %.4f, \"peak_rss_mb\": %.1f",
           epoch_med, 1e3 * epoch_med / (double)per_epoch, train_gflop, train_gflop / epoch_med, eval_med,
           eval_flop / eval_med / 1e9, acc, rss_mb);
    if (bm->target_step)
        printf(", \"target_step\": %lld, \"target_seconds\": %.4f}\n", (long long)bm->target_step, bm->target_s);
    else
        printf(", \"target_step\": null, \"target_seconds\": null}\n");
}

/* With a target: the evaluation of this step, as a training run makes it
 * (reduce_on_plateau follows it too); the first that reaches the target. */
static void bench_evaluate(struct gr_session *s, struct bench *bm, double trained) {
    const struct gr_target_cfg *tg = &s->cfg->target;
    struct gr_measure m;
    gr_session_measure(s, s->eval_set, s->eval_samples, &m);
    struct gr_sched_metrics sm = {m.loss, m.accuracy, m.has_loss, 1};
    gr_sched_observe(&s->sched, &sm);
    double now = tg->metric == GR_METRIC_ACCURACY ? m.accuracy : m.loss;
    bm->last_measured = now;
    if (bm->target_step || !(tg->metric == GR_METRIC_ACCURACY ? now >= tg->value : now <= tg->value)) return;
    bm->target_step = bm->step;
    bm->target_s = trained;
    bm->target_measured = now;
}

/* One epoch of steps, timed without the target's evaluations. */
static double bench_epoch(struct gr_session *s, struct bench *bm) {
    int watch = s->cfg->target.on;
    double spent = 0, t0 = gr_now_seconds();
    for (int64_t k = 0; k < bm->per_epoch; k++) {
        gr_session_step(s);
        bm->step++;
        if (!watch || bm->step % s->cfg->eval_every) continue;
        spent += gr_now_seconds() - t0;
        bench_evaluate(s, bm, bm->trained + spent);
        t0 = gr_now_seconds();
    }
    spent += gr_now_seconds() - t0;
    bm->trained += spent;
    return spent;
}

/* Whole epochs, timed one by one, then the test set evaluated
 * eval_repeats times. */
static void run_bench(const struct cli *o, struct gr_session *s, struct bench *bm) {
    for (int e = 0; e < o->epochs; e++) {
        bm->epoch_s[e] = bench_epoch(s, bm);
        printf("  epoch %d: %.3f s, %.3f ms a step, %.1f GFLOP/s\n", e + 1, bm->epoch_s[e],
               1e3 * bm->epoch_s[e] / (double)bm->per_epoch,
               (bm->fwd + bm->bwd) * (double)bm->per_epoch / bm->epoch_s[e] / 1e9);
    }
    for (int r = 0; r < o->eval_repeats; r++) {
        double t0 = gr_now_seconds();
        bm->acc = gr_session_accuracy(s, &s->test_set, s->test_set.n);
        bm->eval_s[r] = gr_now_seconds() - t0;
    }
    /* forward operations for the whole test set, from the plan at its capacity */
    double efwd, ebwd;
    gr_plan_set_batch(&s->ep, s->ep.cap);
    gr_plan_flops(&s->ep, &efwd, &ebwd);
    bm->eval_flop = efwd / (double)s->ep.cap * (double)s->test_set.n;
}

/* The config as the user gave it, then whole epochs instead of steps and
 * --batch, as overrides like any other, so the config is checked with them. */
static int bench_overrides(const struct cli *o, struct cli *b, char (*own)[64]) {
    *b = *o;
    if (b->n_sets + 3 > (int)(sizeof b->sets / sizeof b->sets[0])) return -1;
    b->sets[b->n_sets++] = GR_OVERRIDE_UNSET "train.steps";
    snprintf(own[0], 64, "train.epochs=%d", o->epochs);
    b->sets[b->n_sets++] = own[0];
    if (o->batch) {
        snprintf(own[1], 64, "train.batch_size=%d", o->batch);
        b->sets[b->n_sets++] = own[1];
    }
    return 0;
}

static int cmd_bench(struct cli *o) {
    struct cli *b = malloc(sizeof *b);
    char own[2][64];
    struct job j;
    if (!b || bench_overrides(o, b, own)) {
        fprintf(stderr, "graphrun bench: too many overrides\n");
        free(b);
        return 1;
    }
    int rc = cli_open_job(&j, b, 1);
    free(b);
    if (rc) return 1;
    if (!j.cfg.has_eval) {
        fprintf(stderr, "%s: bench needs an eval section (its logits node)\n", o->pos[0]);
        cli_close_job(&j);
        return 1;
    }
    struct bench *bm = calloc(1, sizeof *bm);
    if (!bm) {
        cli_close_job(&j);
        return 1;
    }
    struct gr_session *s = &j.s;
    bm->batch = j.cfg.batch_size;
    bm->per_epoch = (s->train_set.n + bm->batch - 1) / bm->batch;
    bm->threads = gr_pool_threads(j.ctx.pool);
    gr_leaves_flops(s, &bm->fwd, &bm->bwd);
    printf("graphrun bench: %s, batch %lld, %d thread%s, %lld steps an epoch\n", o->pos[0], (long long)bm->batch,
           bm->threads, bm->threads == 1 ? "" : "s", (long long)bm->per_epoch);
    run_bench(o, s, bm);
    print_bench(o, s, bm);
    free(bm);
    cli_close_job(&j);
    return 0;
}

const struct command gr_cmd_bench = {"bench", cmd_bench,
    "usage: graphrun bench CONFIG [--set PATH=VALUE | --unset PATH]... [--epochs N]\n"
     "                     [--batch N] [--threads N] [--eval-repeats N] [--json]\n"
     "\n"
     "Train the model CONFIG declares for whole epochs without the periodic\n"
     "evaluation, timing each epoch, then time evaluation of the whole test set\n"
     "(the median of --eval-repeats runs). Reports time per epoch and per step,\n"
     "GFLOP/s (operations counted from the graph), test accuracy and peak RSS.\n"
     "With train.target, it evaluates every eval.every steps as a training run\n"
     "does (left out of the timings) and reports the step and the training time\n"
     "at which the target was first reached.\n",
    "--set --unset --epochs --batch --threads --eval-repeats --json", 1, 1};
