/* Interrupted and resumed runs write the unbroken run's metrics: an
 * interrupt between two rows (through the library's checkpoint hook), for
 * Adam and for runs holding every other kind of state (RMSprop's, AMSGrad's,
 * schedules', early stopping's, the target's); a header lost in a crash;
 * four kill -9s at random moments of a run with a schedule and early
 * stopping. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helpers.h"
#include "models/open.h"
#include "runtime/config/config.h"

static char tmp[64];

static void make_tmp(void) { tg_tmpdir(tmp, sizeof tmp, "resume"); }

static void remove_tmp(void) { tg_rmtree(tmp); }

TestSuite(resume, .init = make_tmp, .fini = remove_tmp, .timeout = 300);

#define proc tg_proc
#define run(...) tg_run(tmp, __VA_ARGS__)
#define proc_free tg_proc_free
#define write_text tg_write_text
#define small_config tg_small_config_file
#define sleep_ms tg_sleep_ms
#define exists tg_exists
#define start tg_start
#define wait_status tg_wait_status

/* metrics.csv without its wall_time column, and metrics.jsonl without its
 * "wall_time" member: what two runs of the same steps must share */
static char *without_wall_time(const char *path, int json) {
    char *text = tg_slurp(path, NULL);
    cr_assert_not_null(text, "no %s", path);
    char *out = malloc(strlen(text) + 1), *o = out;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        cr_assert_not_null(nl, "%s: a line without its newline: %s", path, line);
        *nl = 0;
        char *cut = json ? strstr(line, ", \"wall_time\"") : strrchr(line, ',');
        cr_assert_not_null(cut, "%s: %s", path, line);
        o += sprintf(o, "%.*s\n", (int)(cut - line), line);
        line = nl + 1;
    }
    free(text);
    return out;
}

static void expect_same_metrics(const char *a, const char *b) {
    for (int json = 0; json < 2; json++) {
        char pa[256], pb[256];
        snprintf(pa, sizeof pa, "%s/metrics.%s", a, json ? "jsonl" : "csv");
        snprintf(pb, sizeof pb, "%s/metrics.%s", b, json ? "jsonl" : "csv");
        char *x = without_wall_time(pa, json), *y = without_wall_time(pb, json);
        cr_expect_str_eq(y, x, "%s differs from the unbroken run's", pb);
        free(x);
        free(y);
    }
}

/* Sets the interrupt flag as checkpoint number `at` starts: the hook sees
 * the bytes a save has written so far, so a count that does not grow marks
 * the first write of the next save. */
struct interrupter {
    volatile sig_atomic_t flag;
    int saves, at;
    uint64_t last;
};

static void count_saves(void *ud, uint64_t written) {
    struct interrupter *it = ud;
    if ((it->last == 0 || written <= it->last) && ++it->saves == it->at) it->flag = SIGINT;
    it->last = written;
}

static void train_lib(const char *cfg_text, const char *dir, const char *resume, struct interrupter *it,
                      struct gr_train_result *res) {
    struct gr_ctx ctx;
    struct gr_config cfg;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    cr_assert_eq(gr_config_parse(&ctx, &cfg, "w.yaml", "", cfg_text, strlen(cfg_text)), 0, "%s", ctx.err);
    if (it) {
        ctx.interrupt = &it->flag;
        ctx.write_hook = count_saves;
        ctx.write_hook_ud = it;
    }
    struct gr_train_opts opts = {.threads = 1, .run_dir = dir, .resume = resume};
    cr_assert_eq(gr_train(&ctx, &cfg, &opts, res), 0, "%s", ctx.err);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

/* An unbroken run and one stopped by an interrupt as its checkpoint number
 * `at` starts (checkpoints every step, and best.safetensors with early
 * stopping, all count), then resumed: the same rows (losses, evaluations,
 * rates, gradient norms), the same end, the same best weights. */
static void interrupt_and_resume(const char *name, const char *optimizer, const char *extra, int eval_every, int at) {
    char text[4096], a[128], b[128], ckpt[160];
    tg_small_config(text, sizeof text, 16, 60, optimizer, extra, eval_every);
    snprintf(a, sizeof a, "%s/%s-unbroken", tmp, name);
    snprintf(b, sizeof b, "%s/%s-stopped", tmp, name);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", b);
    struct gr_train_result whole, res;
    train_lib(text, a, NULL, NULL, &whole);
    struct interrupter it = {0, 0, at, 0};
    train_lib(text, b, NULL, &it, &res);
    cr_assert(res.interrupted && res.checkpoint_step > 1 && res.checkpoint_step < whole.steps, "%s: stopped at %lld",
              name, (long long)res.checkpoint_step);
    cr_log_info("%s: interrupted at step %lld of %lld", name, (long long)res.checkpoint_step, (long long)whole.steps);
    train_lib(text, b, ckpt, NULL, &res);
    cr_expect_eq(res.steps, whole.steps, "%s", name);
    cr_expect_eq(res.stopped_early, whole.stopped_early, "%s", name);
    cr_expect_eq(res.best_step, whole.best_step, "%s", name);
    cr_expect(res.best_test_accuracy == whole.best_test_accuracy && res.test_accuracy == whole.test_accuracy, "%s",
              name);
    expect_same_metrics(a, b);
}

Test(resume, an_interrupt_between_two_rows_resumes_into_the_unbroken_runs_rows) {
    interrupt_and_resume("adam", "{name: adam, lr: 0.01}", "checkpoint: {every: 1}", 50, 24);
}

/* Every state a checkpoint holds besides Adam's: RMSprop's three, the
 * plateau's rate and counts, clipping's norms, and early stopping's best
 * and count: by min_delta 0.06 the evaluation of step 45 is bad and that of
 * step 50 the second bad one, which ends the run there; the interrupt comes
 * between the two (at step 47), so a resumed run that forgot the first
 * would go on. Then
 * AMSGrad's maximum, a restarting cosine after a warmup and the target. */
Test(resume, a_run_with_every_kind_of_state_resumes_into_the_unbroken_runs_rows) {
    interrupt_and_resume("rmsprop", "{name: rmsprop, lr: 0.02, rho: 0.9, centered: true, momentum: 0.5}",
                         "checkpoint: {every: 1}, clip: {norm: 0.5}, "
                         "schedule: {name: reduce_on_plateau, metric: accuracy, patience: 0, factor: 0.5}, "
                         "early_stopping: {metric: loss, patience: 2, min_delta: 0.06}", 5, 53);
    interrupt_and_resume("amsgrad", "{name: adam, lr: 0.01, amsgrad: true}",
                         "checkpoint: {every: 1}, target: {value: 0.3}, "
                         "schedule: {name: cosine, warmup: {steps: 10}, restart: true, period: 15}", 10, 24);
}

Test(resume, a_resume_after_the_header_was_lost_writes_it_again) {
    char cfg[128], dir[128], path[256];
    snprintf(cfg, sizeof cfg, "%s/small.yaml", tmp);
    small_config(cfg, 30, 1000, "checkpoint: {every: 15}");
    snprintf(dir, sizeof dir, "%s/run", tmp);
    struct proc p;
    run(&p, NULL, (const char *[]){"train", cfg, "--run-dir", dir, "--threads", "1", "--quiet", NULL});
    cr_assert_eq(p.status, 0, "%s", p.err);
    proc_free(&p);
    /* as a kill -9 leaves them: metrics.csv created but never flushed, a
     * JSON line cut short */
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    write_text(path, "");
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "a");
    fputs("{\"step\": 40, \"epo", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    run(&p, NULL, (const char *[]){"train", cfg, "--resume", path, "--set", "train.steps=60", "--threads", "1",
                                   "--quiet", NULL});
    cr_assert_eq(p.status, 0, "%s", p.err);
    proc_free(&p);
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    char *csv = tg_slurp(path, NULL);
    cr_expect_str_eq(strtok(csv, "\n"), "step,epoch,loss,eval_accuracy,eval_loss,lr,grad_norm,wall_time");
    long want = 40;
    for (char *row = strtok(NULL, "\n"); row; row = strtok(NULL, "\n"), want += 10)
        cr_expect_eq(atol(row), want, "row %s", row);
    cr_expect_eq(want, 70, "rows 40 to 60 after the resume");
    free(csv);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    char *jsonl = tg_slurp(path, NULL);
    want = 10;
    for (char *row = strtok(jsonl, "\n"); row; row = strtok(NULL, "\n"), want += 10) {
        json_t *j = json_loads(row, 0, NULL);
        cr_expect(j && json_integer_value(json_object_get(j, "step")) == want, "expected step %ld: %s", want, row);
        json_decref(j);
    }
    cr_expect_eq(want, 70);
    free(jsonl);
}

Test(resume, killed_and_resumed_runs_write_the_unbroken_runs_metrics, .timeout = 400) {
    char cfg[128], straight[128], dir[128], ckpt[160];
    snprintf(cfg, sizeof cfg, "%s/small.yaml", tmp);
    /* checkpoints every 7 steps land between rows (every 10); a schedule
     * with a warmup, early stopping (and its best.safetensors) */
    small_config(cfg, 400, 50,
                 "checkpoint: {every: 7}, schedule: {name: cosine, warmup: {steps: 30}, floor: 0.001}, "
                 "early_stopping: {metric: loss, patience: 3}");
    snprintf(straight, sizeof straight, "%s/straight", tmp);
    snprintf(dir, sizeof dir, "%s/killed", tmp);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
    struct proc p;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run(&p, NULL, (const char *[]){"train", cfg, "--run-dir", straight, "--threads", "1", "--quiet", NULL});
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert_eq(p.status, 0, "%s", p.err);
    proc_free(&p);
    /* four kills, each 10-20% of an unbroken run's time after its start
     * (which includes loading): together they cannot let the run finish */
    long whole_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    srand(4242);
    char out[160], err[160];
    snprintf(out, sizeof out, "%s/k.out", tmp);
    snprintf(err, sizeof err, "%s/k.err", tmp);
    int kills = 0, done = 0;
    for (int round = 0; round < 16 && !done; round++) {
        const char *fresh[] = {"train", cfg, "--run-dir", dir, "--threads", "1", "--quiet", NULL};
        const char *again[] = {"train", cfg, "--resume", ckpt, "--threads", "1", "--quiet", NULL};
        pid_t pid = start(NULL, exists(ckpt) ? again : fresh, out, err);
        if (kills < 4) {
            sleep_ms(whole_ms / 10 + rand() % (whole_ms / 10 + 1));
            kill(pid, SIGKILL);
        }
        int st = wait_status(pid);
        if (st == 128 + SIGKILL) kills++;
        else done = st == 0;
    }
    cr_log_info("%d kills in runs of %ld ms", kills, whole_ms);
    cr_expect_geq(kills, 3, "only %d kills landed", kills);
    cr_assert(done, "the resumed run did not finish");
    expect_same_metrics(straight, dir);
    /* the same best weights: eval gives them the same accuracy */
    char *acc[2] = {NULL, NULL};
    const char *dirs[2] = {straight, dir};
    for (int k = 0; k < 2; k++) {
        char best[192];
        snprintf(best, sizeof best, "%s/best.safetensors", dirs[k]);
        run(&p, NULL, (const char *[]){"eval", cfg, "--checkpoint", best, NULL});
        cr_assert_eq(p.status, 0, "%s", p.err);
        char *at = strstr(p.out, "accuracy: ");
        cr_assert_not_null(at, "%s", p.out);
        acc[k] = strdup(at);
        proc_free(&p);
    }
    cr_expect_str_eq(acc[1], acc[0], "best.safetensors of the killed run differs");
    free(acc[0]);
    free(acc[1]);
}

