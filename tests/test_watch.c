/* What the periodic evaluation drives, through the real binary on MNIST
 * (2000 training and 1000 test images, evaluations of 200): early stopping
 * ending the run where its patience says, with its best checkpoint, whose
 * accuracy `graphrun eval` reproduces; the target, written when first
 * reached, ending the run with stop, and reported by `graphrun bench`; the
 * learning rate of the metrics rows, as the schedule and its warmup give it.
 * Each expectation is worked out from the run's own metrics rows (accuracies
 * on 200 images are multiples of 1/200, printed exactly), not from numbers
 * taken from an earlier run. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "runtime/session/evaluate.h"
#include "runtime/session/watch.h"

#define GRAPHRUN GR_BUILD_DIR "/graphrun"

static char tmp[64];

static void make_tmp(void) { tg_tmpdir(tmp, sizeof tmp, "watch"); }

static void remove_tmp(void) { tg_rmtree(tmp); }

TestSuite(watch, .init = make_tmp, .fini = remove_tmp, .timeout = 300);

/* One metrics.csv row: step, eval accuracy (-1: none), lr. */
struct row {
    long step;
    double acc, lr;
};

static int read_rows(const char *dir, struct row *rows, int cap) {
    char path[256], line[512];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no %s", path);
    cr_assert_not_null(fgets(line, sizeof line, f));
    int n = 0;
    while (n < cap && fgets(line, sizeof line, f)) {
        char *field[8], *p = line;
        int k = 0;
        for (; k < 8 && p; k++) {
            field[k] = p;
            p = strchr(p, ',');
            if (p) *p++ = 0;
        }
        cr_assert_eq(k, 8, "a row of %d fields", k);
        rows[n].step = atol(field[0]);
        rows[n].acc = field[3][0] ? atof(field[3]) : -1;
        rows[n].lr = atof(field[5]);
        n++;
    }
    fclose(f);
    return n;
}

static char *run(const char *fmt, const char *arg1, const char *arg2) {
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, fmt, arg1, arg2);
    int rc = tg_sh(&out, "%s 2>&1", cmd);
    cr_assert_eq(rc, 0, "%s failed:\n%s", cmd, out);
    return out;
}

/* Keras's rule on the rows: a new best when more than the best so far, else
 * one more bad evaluation; stop at `patience` bad ones in a row. Returns the
 * stop step (0: none) and the best step. */
static long expected_stop(const struct row *rows, int n, int patience, long *best_step) {
    double best = -1;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (rows[i].acc < 0) continue;
        if (rows[i].acc > best) {
            best = rows[i].acc;
            *best_step = rows[i].step;
            bad = 0;
        } else if (++bad >= patience) {
            return rows[i].step;
        }
    }
    return 0;
}

Test(watch, early_stopping_stops_where_its_patience_says_and_keeps_the_best_weights) {
    char cfg[128], dir[128];
    snprintf(cfg, sizeof cfg, "%s/stop.yaml", tmp);
    snprintf(dir, sizeof dir, "%s/run", tmp);
    tg_small_config_file(cfg, 600, 10, "early_stopping: {metric: accuracy, patience: 3}");
    char *out = run("'" GRAPHRUN "' train '%s' --run-dir '%s' --threads 1", cfg, dir);
    struct row rows[128];
    int n = read_rows(dir, rows, 128);
    long best_step = 0, stop = expected_stop(rows, n, 3, &best_step);
    cr_assert_gt(stop, 0, "the rows never ran out of patience:\n%s", out);
    cr_expect_lt(stop, 600, "%s", out);
    cr_expect_eq(rows[n - 1].step, stop, "the run ended at step %ld, its patience says %ld", rows[n - 1].step, stop);
    char want[256];
    snprintf(want, sizeof want, "early stopping at step %ld: eval accuracy not better by more than 0 for 3 evaluations",
             stop);
    cr_expect(strstr(out, want), "expected '%s' in:\n%s", want, out);
    snprintf(want, sizeof want, "best checkpoint: %s/best.safetensors (step %ld)", dir, best_step);
    cr_expect(strstr(out, want), "expected '%s' in:\n%s", want, out);
    /* the accuracy the run reports for the best weights is the one eval gives them */
    snprintf(want, sizeof want, "test accuracy of the best weights (step %ld, eval accuracy ", best_step);
    const char *line = strstr(out, want);
    cr_assert_not_null(line, "expected '%s' in:\n%s", want, out);
    const char *reported = strstr(line, "): ");
    cr_assert_not_null(reported);
    char best_path[256];
    snprintf(best_path, sizeof best_path, "%s/best.safetensors", dir);
    char *ev = run("'" GRAPHRUN "' eval '%s' --checkpoint '%s'", cfg, best_path);
    snprintf(want, sizeof want, "(step %ld)", best_step);
    cr_expect(strstr(ev, want), "eval of best.safetensors: %s", ev);
    const char *acc = strstr(ev, "accuracy: ");
    cr_assert_not_null(acc, "%s", ev);
    cr_expect_eq(strncmp(acc + strlen("accuracy: "), reported + 3, 6), 0, "eval says %.6s, the run said %.6s",
                 acc + strlen("accuracy: "), reported + 3);
    free(ev);
    free(out);
}

Test(watch, the_target_is_written_when_first_reached_and_can_end_the_run) {
    char cfg[128], dir[128], path[256];
    snprintf(cfg, sizeof cfg, "%s/target.yaml", tmp);
    snprintf(dir, sizeof dir, "%s/run", tmp);
    tg_small_config_file(cfg, 200, 10, "target: {metric: accuracy, value: 0.6}");
    char *out = run("'" GRAPHRUN "' train '%s' --run-dir '%s' --threads 1", cfg, dir);
    struct row rows[64];
    int n = read_rows(dir, rows, 64);
    long first = 0;
    for (int i = 0; i < n && !first; i++)
        if (rows[i].acc >= 0.6) first = rows[i].step;
    cr_assert_gt(first, 0, "the rows never reach 0.6:\n%s", out);
    cr_expect_eq(rows[n - 1].step, 200, "without stop the run goes on");
    snprintf(path, sizeof path, "%s/target.json", dir);
    json_error_t e;
    json_t *t = json_load_file(path, 0, &e);
    cr_assert_not_null(t, "%s: %s", path, e.text);
    cr_expect(json_is_true(json_object_get(t, "reached")));
    cr_expect_eq(json_integer_value(json_object_get(t, "step")), first);
    cr_expect_float_eq(json_number_value(json_object_get(t, "epoch")), (double)first * 32.0 / 2000, 1e-5);
    cr_expect(json_number_value(json_object_get(t, "train_seconds")) > 0 &&
                  json_number_value(json_object_get(t, "wall_seconds")) >=
                      json_number_value(json_object_get(t, "train_seconds")),
              "%s", out);
    json_decref(t);
    char want[512];
    snprintf(want, sizeof want, "target accuracy >= 0.6 reached at step %ld (epoch ", first);
    cr_expect(strstr(out, want), "expected '%s' in:\n%s", want, out);
    free(out);

    /* with stop, and the value that evaluation measured (reached at, not
     * only above): the run ends there, its checkpoint of that step */
    double at = 0;
    for (int i = 0; i < n; i++)
        if (rows[i].step == first) at = rows[i].acc;
    char extra[128];
    snprintf(extra, sizeof extra, "target: {metric: accuracy, value: %.3f, stop: true}", at);
    tg_small_config_file(cfg, 200, 10, extra);
    snprintf(dir, sizeof dir, "%s/stopped", tmp);
    out = run("'" GRAPHRUN "' train '%s' --run-dir '%s' --threads 1", cfg, dir);
    n = read_rows(dir, rows, 64);
    cr_expect_eq(rows[n - 1].step, first, "stopped at %ld, reached at %ld", rows[n - 1].step, first);
    snprintf(want, sizeof want, "checkpoint: %s/checkpoint.safetensors (step %ld)", dir, first);
    cr_expect(strstr(out, want), "expected '%s' in:\n%s", want, out);
    free(out);
    cr_log_info("reached %.3f at step %ld", at, first);

    /* bench evaluates as the run does, and says when it was reached */
    out = run("'" GRAPHRUN "' bench '%s' --epochs 3 --threads 1 --eval-repeats 1 --json%s", cfg, "");
    const char *json = strstr(out, "{\"tool\"");
    cr_assert_not_null(json, "%s", out);
    t = json_loads(json, 0, &e);
    cr_assert_not_null(t, "%s: %s", e.text, json);
    cr_expect_eq(json_integer_value(json_object_get(t, "target_step")), first, "%s", json);
    json_decref(t);
    free(out);
}

/* The lr column is the rate each row's last step took: a warmup of 10 steps
 * from 0, then halved every 25 steps. */
Test(watch, the_lr_column_is_the_rate_the_schedule_gave) {
    char cfg[128], dir[128];
    snprintf(cfg, sizeof cfg, "%s/lr.yaml", tmp);
    snprintf(dir, sizeof dir, "%s/run", tmp);
    tg_small_config_file(cfg, 100, 50, "schedule: {name: step, every: 25, gamma: 0.5, warmup: {steps: 10}}");
    free(run("'" GRAPHRUN "' train '%s' --run-dir '%s' --threads 1 --quiet", cfg, dir));
    struct row rows[16];
    int n = read_rows(dir, rows, 16);
    cr_assert_eq(n, 10);
    for (int i = 0; i < n; i++) {
        long t = rows[i].step;
        double want = t <= 10 ? 0.01 * (double)t / 10 : 0.01 * pow(0.5, (double)((t - 11) / 25));
        cr_expect(fabs(rows[i].lr - want) <= 1e-9 * want, "step %ld: lr %g, expected %g", t, rows[i].lr, want);
    }
}

/* With data.validation, the periodic evaluation that early stopping watches
 * measures the held-out samples (eval.on's default): the best and the last
 * metric are the validation accuracy of the weights they were measured on,
 * evaluated again here, and the test set is left for the final lines. */
Test(watch, early_stopping_watches_the_validation_set) {
    char text[4096], with[4200];
    tg_small_config(text, sizeof text, 16, 60, "{name: adam, lr: 0.01}",
                    "early_stopping: {metric: accuracy, patience: 1000}", 20);
    const char *data = strstr(text, "data:\n");
    cr_assert_not_null(data);
    snprintf(with, sizeof with, "data:\n  validation: 300\n%s", data + strlen("data:\n"));
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    cr_assert_eq(gr_config_parse(&ctx, &cfg, "valid.yaml", "", with, strlen(with)), 0, "%s", ctx.err);
    struct gr_session s;
    struct gr_session_opts opts = {.threads = 1};
    cr_assert_eq(gr_session_open(&ctx, &s, &cfg, &opts), 0, "%s", ctx.err);
    cr_assert_eq(s.eval_set, &s.valid_set);
    struct gr_train_result res;
    cr_assert_eq(gr_train_run(&s, NULL, &res), 0, "%s", ctx.err);
    cr_assert_gt(res.best_step, 0);
    double last = gr_session_accuracy(&s, &s.valid_set, 200);
    cr_expect_eq(res.last_eval_accuracy, last, "last evaluation %.6f, validation accuracy %.6f",
                 res.last_eval_accuracy, last);
    gr_watch_swap_best(&s);
    double best = gr_session_accuracy(&s, &s.valid_set, 200);
    cr_expect_eq(res.best_metric, best, "best %.6f, validation accuracy %.6f", res.best_metric, best);
    cr_expect_eq(res.best_test_accuracy, gr_session_accuracy(&s, &s.test_set, s.test_set.n));
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

/* A schedule counted in epochs counts the training rows, not those held out
 * for validation: 2000 - 400 = 1600 rows in batches of 32 are 50 steps an
 * epoch, so the rate halves after step 50 (62.5 steps with all 2000). */
Test(watch, an_epoch_schedule_counts_the_rows_left_for_training) {
    char text[4096], with[4200], cfg[128], dir[128];
    tg_small_config(text, sizeof text, 16, 100, "{name: adam, lr: 0.01}",
                    "schedule: {name: step, unit: epochs, every: 1, gamma: 0.5}", 50);
    const char *data = strstr(text, "data:\n");
    cr_assert_not_null(data);
    snprintf(with, sizeof with, "data:\n  validation: 400\n%s", data + strlen("data:\n"));
    snprintf(cfg, sizeof cfg, "%s/epochs.yaml", tmp);
    snprintf(dir, sizeof dir, "%s/run", tmp);
    tg_write_text(cfg, with);
    free(run("'" GRAPHRUN "' train '%s' --run-dir '%s' --threads 1 --quiet", cfg, dir));
    struct row rows[16];
    int n = read_rows(dir, rows, 16);
    cr_assert_eq(n, 10);
    for (int i = 0; i < n; i++) {
        double want = rows[i].step <= 50 ? 0.01 : 0.005;
        cr_expect(fabs(rows[i].lr - want) <= 1e-9 * want, "step %ld: lr %g, expected %g", rows[i].step, rows[i].lr,
                  want);
    }
}
