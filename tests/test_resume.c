/* Interrupted and resumed runs write the unbroken run's metrics: an
 * interrupt between two rows (through the library's checkpoint hook), for
 * Adam and for runs holding every other kind of state (RMSprop's, AMSGrad's,
 * schedules', early stopping's, the target's), at a step picked from what
 * the unbroken run did, whatever order the machine's kernels sum in (which
 * moves where early stopping, the plateau and the target fire); a header
 * lost in a crash;
 * four kill -9s at random moments of a run with a schedule and early
 * stopping. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "models/open.h"
#include "runtime/config/config.h"
#include "runtime/session/state.h"

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

/* What a run reports (gr_train_opts.report), and the interrupt: steps are
 * at most MAX_STEPS. */
#define MAX_STEPS 80
struct seen {
    double lr[MAX_STEPS + 1]; /* lr[t]: the rate step t took */
    int64_t last;             /* the last step reported */
    int64_t first_bad;        /* the evaluation that began early stopping's last run of bad ones; 0: none */
    int64_t target;           /* the step the target was reported met at; 0: never in this run */
    int64_t target_kept;      /* the session's target step at the end (a resumed one's from its checkpoint) */
    int64_t at;               /* the run is to stop after step `at` (0: never), */
    volatile sig_atomic_t flag; /* which this flag (ctx.interrupt) asks */
};

static void on_report(void *ud, const struct gr_train_event *ev) {
    struct seen *s = ud;
    const struct gr_watch *w = &ev->session->watch;
    if (ev->kind == GR_TRAIN_STEP) {
        if (ev->step >= 1 && ev->step <= MAX_STEPS) s->lr[ev->step] = ev->lr;
        s->last = ev->step;
    }
    /* the watch as this evaluation left it: one bad evaluation since the best */
    if (ev->kind == GR_TRAIN_EVAL && ev->session->cfg->early.on && w->bad == 1) s->first_bad = ev->step;
    if (ev->kind == GR_TRAIN_TARGET) s->target = ev->step;
    if (ev->kind == GR_TRAIN_END) s->target_kept = w->target_step;
}

/* The interrupt lands as the checkpoint of step at - 1 starts to be written
 * (the hook sees a save's bytes), as a ^C may: the loop reads the flag after
 * its next step, which it checkpoints and stops at. */
static void interrupt_in_save(void *ud, uint64_t written) {
    struct seen *s = ud;
    (void)written;
    if (s->at && s->last == s->at - 1) s->flag = SIGINT;
}

static void train_lib(const char *cfg_text, const char *dir, const char *resume, struct seen *seen,
                      struct gr_train_result *res) {
    struct gr_ctx ctx;
    struct gr_config cfg;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    cr_assert_eq(gr_config_parse(&ctx, &cfg, "w.yaml", "", cfg_text, strlen(cfg_text)), 0, "%s", ctx.err);
    if (seen->at) {
        ctx.interrupt = &seen->flag;
        ctx.write_hook = interrupt_in_save;
        ctx.write_hook_ud = seen;
    }
    struct gr_train_opts opts = {.threads = 1, .run_dir = dir, .resume = resume, .report = on_report,
                                 .report_ud = seen};
    cr_assert_eq(gr_train(&ctx, &cfg, &opts, res), 0, "%s", ctx.err);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

/* The steps of the metrics rows of the run in `dir`, in order; their count. */
static int row_steps(const char *dir, int64_t *steps, int max) {
    char path[256];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    char *csv = tg_slurp(path, NULL);
    cr_assert_not_null(csv, "no %s", path);
    char *body = strchr(csv, '\n');
    cr_assert_not_null(body, "%s: no header line", path);
    int n = 0;
    for (char *row = strtok(body, "\n"); row && n < max; row = strtok(NULL, "\n")) steps[n++] = atol(row);
    free(csv);
    return n;
}

/* Where a case wants the interrupt, from its unbroken run (in `dir`, its
 * result and reports): a range [lo, hi] of steps, with why in `why`. Each
 * asserts that the run did what the case needs. */
typedef void pick_fn(const char *dir, const struct gr_train_result *whole, const struct seen *seen, int64_t *lo,
                     int64_t *hi, char *why, size_t len);

struct resume_case {
    const char *name, *optimizer, *extra;
    int eval_every, steps;
    pick_fn *pick;
};

/* The middle step of [lo, hi] that is no metrics row: the checkpoint there
 * holds a row's losses and norms half summed. */
static int64_t between_rows(const char *name, const char *dir, int64_t lo, int64_t hi) {
    int64_t rows[MAX_STEPS], cand[MAX_STEPS];
    int n = row_steps(dir, rows, MAX_STEPS), m = 0;
    for (int64_t t = lo; t <= hi; t++) {
        int row = 0;
        for (int i = 0; i < n; i++) row |= rows[i] == t;
        if (!row) cand[m++] = t;
    }
    cr_assert_gt(m, 0, "%s: no step between two metrics rows in [%lld, %lld]", name, (long long)lo, (long long)hi);
    return cand[m / 2];
}

/* The target's step as RUN/target.json gives it; 0: no such file. */
static int64_t target_file_step(const char *dir) {
    char path[256];
    snprintf(path, sizeof path, "%s/target.json", dir);
    if (!exists(path)) return 0;
    json_t *j = json_load_file(path, 0, NULL);
    cr_assert_not_null(j, "%s does not parse", path);
    int64_t step = json_is_true(json_object_get(j, "reached")) ? json_integer_value(json_object_get(j, "step")) : -1;
    json_decref(j);
    return step;
}

/* An unbroken run, then one stopped by an interrupt after the step the case
 * picks from the unbroken one (checkpoints every step), then resumed: the
 * same rows (losses, evaluations, rates, gradient norms), the same end, the
 * same best weights, the target met at the same step. */
static void interrupt_and_resume(const struct resume_case *c) {
    char text[4096], a[128], b[128], ckpt[160], why[256] = "";
    cr_assert_leq(c->steps, MAX_STEPS);
    tg_small_config(text, sizeof text, 16, c->steps, c->optimizer, c->extra, c->eval_every);
    snprintf(a, sizeof a, "%s/%s-unbroken", tmp, c->name);
    snprintf(b, sizeof b, "%s/%s-stopped", tmp, c->name);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", b);
    struct gr_train_result whole, res;
    struct seen seen = {0}, stopped = {0}, resumed = {0};
    train_lib(text, a, NULL, &seen, &whole);
    int64_t lo = 0, hi = 0;
    c->pick(a, &whole, &seen, &lo, &hi, why, sizeof why);
    stopped.at = between_rows(c->name, a, lo, hi);
    cr_log_info("%s: interrupted at step %lld of %lld, in [%lld, %lld]: %s", c->name, (long long)stopped.at,
                (long long)whole.steps, (long long)lo, (long long)hi, why);
    cr_assert(stopped.at > 1 && stopped.at < whole.steps, "%s: no step to stop at inside the run", c->name);
    train_lib(text, b, NULL, &stopped, &res);
    cr_assert(res.interrupted && res.checkpoint_step == stopped.at, "%s: stopped at %lld, not %lld", c->name,
              (long long)res.checkpoint_step, (long long)stopped.at);
    train_lib(text, b, ckpt, &resumed, &res);
    cr_expect_eq(res.steps, whole.steps, "%s", c->name);
    cr_expect_eq(res.stopped_early, whole.stopped_early, "%s", c->name);
    cr_expect_eq(res.best_step, whole.best_step, "%s", c->name);
    cr_expect(res.best_test_accuracy == whole.best_test_accuracy && res.test_accuracy == whole.test_accuracy, "%s",
              c->name);
    cr_expect_eq(resumed.target_kept, seen.target_kept, "%s: the target met at step %lld, not %lld", c->name,
                 (long long)resumed.target_kept, (long long)seen.target_kept);
    cr_expect_eq(target_file_step(b), target_file_step(a), "%s: target.json", c->name);
    expect_same_metrics(a, b);
}

/* Adam, rows every 10 steps: the interrupt between the middle two. */
static void pick_rows(const char *dir, const struct gr_train_result *whole, const struct seen *seen, int64_t *lo,
                      int64_t *hi, char *why, size_t len) {
    (void)whole;
    (void)seen;
    int64_t rows[MAX_STEPS];
    int n = row_steps(dir, rows, MAX_STEPS), k = (n - 2) / 2;
    cr_assert_geq(n, 2, "adam: %d metrics rows", n);
    *lo = rows[k] + 1;
    *hi = rows[k + 1] - 1;
    snprintf(why, len, "between the rows of steps %lld and %lld", (long long)rows[k], (long long)rows[k + 1]);
}

Test(resume, an_interrupt_between_two_rows_resumes_into_the_unbroken_runs_rows) {
    interrupt_and_resume(&(struct resume_case){"adam", "{name: adam, lr: 0.01}", "checkpoint: {every: 1}", 50, 60,
                                               pick_rows});
}

/* Early stopping ended the run at whole->stopped_early, its run of bad
 * evaluations begun at seen->first_bad: the interrupt comes between the two,
 * so the checkpoint holds a count that a resumed run which forgot it would
 * not reach by the stop, and runs on. The plateau, by the same measure,
 * lowered the rate at that first bad evaluation: the steps after it take the
 * lowered rate, which the checkpoint holds too. */
static void pick_stop(const char *dir, const struct gr_train_result *whole, const struct seen *seen, int64_t *lo,
                      int64_t *hi, char *why, size_t len) {
    (void)dir;
    int64_t stop = whole->stopped_early, bad = seen->first_bad;
    cr_assert_gt(stop, 0, "rmsprop: early stopping did not end the run (%lld steps): the checkpoint's count is "
                 "not tested", (long long)whole->steps);
    cr_assert(bad > 0 && stop - bad >= 2, "rmsprop: no step between the first bad evaluation (%lld) and the stop "
              "(%lld)", (long long)bad, (long long)stop);
    *lo = bad + 1;
    *hi = stop - 1;
    cr_assert_lt(seen->lr[*lo], seen->lr[1], "rmsprop: the plateau did not lower the rate by step %lld",
                 (long long)*lo);
    snprintf(why, len, "early stopping's first bad evaluation at step %lld, its stop at %lld; the rate %g of %g",
             (long long)bad, (long long)stop, seen->lr[*lo], seen->lr[1]);
}

/* The target met at seen->target, and the cosine restarted (a step whose
 * rate rose after the rate fell; the warmup's rise follows no fall): the
 * interrupt after the target, inside a period after a restart and before
 * its last step. A resumed run must keep the target met where it was. */
static void pick_target(const char *dir, const struct gr_train_result *whole, const struct seen *seen, int64_t *lo,
                        int64_t *hi, char *why, size_t len) {
    (void)dir;
    int64_t t = seen->target, end = whole->steps, restarts[MAX_STEPS];
    int n = 0;
    cr_assert(t > 0 && t < end, "amsgrad: the target was not met before the last step (%lld)", (long long)t);
    for (int64_t s = 3; s <= end; s++)
        if (seen->lr[s] > seen->lr[s - 1] && seen->lr[s - 1] < seen->lr[s - 2]) restarts[n++] = s;
    *lo = 1;
    *hi = 0;
    for (int k = 0; k < n && *lo > *hi; k++) {
        int64_t next = k + 1 < n ? restarts[k + 1] : end + 1;
        *lo = (restarts[k] > t ? restarts[k] : t) + 1;
        *hi = next - 2;
    }
    cr_assert_leq(*lo, *hi, "amsgrad: no restart period (%d restarts) has a step after the target (step %lld)", n,
                  (long long)t);
    int w = snprintf(why, len, "the target met at step %lld, the schedule restarting at", (long long)t);
    for (int k = 0; k < n && w < (int)len; k++)
        w += snprintf(why + w, len - (size_t)w, " %lld", (long long)restarts[k]);
}

/* Every state a checkpoint holds besides Adam's: RMSprop's three, the
 * plateau's rate and counts, clipping's norms, and early stopping's best
 * and count; then AMSGrad's maximum, a restarting cosine after a warmup and
 * the target. Early stopping and the plateau both count an evaluation bad
 * unless its loss beats the best by 0.1 (absolute), so the rate falls where
 * the count starts: a margin far wider than the drift between runs summing
 * in another order, so that some run of two bad evaluations ends every run
 * (over 80 steps: room for a late one), though not at the same step. */
Test(resume, a_run_with_every_kind_of_state_resumes_into_the_unbroken_runs_rows) {
    interrupt_and_resume(&(struct resume_case){
        "rmsprop", "{name: rmsprop, lr: 0.02, rho: 0.9, centered: true, momentum: 0.5}",
        "checkpoint: {every: 1}, clip: {norm: 0.5}, "
        "schedule: {name: reduce_on_plateau, metric: loss, patience: 0, factor: 0.5, threshold: 0.1, "
        "threshold_mode: abs}, early_stopping: {metric: loss, patience: 2, min_delta: 0.1}",
        5, 80, pick_stop});
    interrupt_and_resume(&(struct resume_case){
        "amsgrad", "{name: adam, lr: 0.01, amsgrad: true}",
        "checkpoint: {every: 1}, target: {value: 0.3}, "
        "schedule: {name: cosine, warmup: {steps: 10}, restart: true, period: 15}",
        10, 60, pick_target});
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
        /* killed before its first checkpoint: nothing to resume, and a
         * new run does not take a folder that holds a run's files */
        if (!exists(ckpt)) tg_rmtree(dir);
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

/* A 20-step run of small.yaml into the folder tmp/name: the config's path
 * into cfg, the folder's into dir (128 bytes each). */
static void small_run(char *cfg, char *dir, const char *name) {
    snprintf(cfg, 128, "%s/small.yaml", tmp);
    small_config(cfg, 20, 1000, NULL);
    snprintf(dir, 128, "%s/%s", tmp, name);
    struct proc p;
    run(&p, NULL, (const char *[]){"train", cfg, "--run-dir", dir, "--threads", "1", "--quiet", NULL});
    cr_assert_eq(p.status, 0, "%s", p.err);
    proc_free(&p);
}

/* A resume takes its own run's folder, or one that holds no run: given
 * another run's folder (--run-dir), it would trim that run's metrics to the
 * resumed step, add its own rows after them and replace its checkpoint and
 * config; refused before it writes anything. */
Test(resume, a_resume_into_another_runs_folder_is_refused) {
    char cfg[128], a[128], b[128], fresh[128], ckpt[256], path[256];
    small_run(cfg, a, "a");
    small_run(cfg, b, "b");
    snprintf(fresh, sizeof fresh, "%s/fresh", tmp);
    struct proc p;
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", a);
    snprintf(path, sizeof path, "%s/metrics.csv", b);
    char *rows = tg_slurp(path, NULL);
    snprintf(path, sizeof path, "%s/plot.png", b);
    struct stat plot;
    cr_assert_eq(stat(path, &plot), 0, "%s", path);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", b);
    size_t n_before = 0, n_after = 0;
    char *before = tg_slurp(path, &n_before);
    run(&p, NULL, (const char *[]){"train", cfg, "--resume", ckpt, "--run-dir", b, "--set", "train.steps=30",
                                   "--threads", "1", NULL});
    char want[768];
    snprintf(want, sizeof want, "%s: the run folder holds another run (config.yaml, metrics.csv, metrics.jsonl, "
             "checkpoint.safetensors, plot.png, plot.gp); --resume %s continues the run whose folder holds that "
             "checkpoint: give that folder, or one that holds no run", b, ckpt);
    tg_expect_one_line(&p, want, "resume into b");
    proc_free(&p);
    char *after = tg_slurp(path, &n_after);
    cr_expect(before && after && n_before == n_after && memcmp(before, after, n_after) == 0,
              "b's checkpoint was replaced");
    snprintf(path, sizeof path, "%s/metrics.csv", b);
    char *now = tg_slurp(path, NULL);
    cr_expect(now && rows && strcmp(now, rows) == 0, "b's metrics.csv was rewritten: %s", now);
    free(now), free(rows), free(before), free(after);
    struct stat replot;
    snprintf(path, sizeof path, "%s/plot.png", b);
    cr_expect(stat(path, &replot) == 0 && replot.st_ino == plot.st_ino && replot.st_mtim.tv_sec == plot.st_mtim.tv_sec &&
                  replot.st_mtim.tv_nsec == plot.st_mtim.tv_nsec,
              "b's plot was drawn again");
    /* its own folder, by --run-dir too (through a link to its checkpoint),
     * and a folder holding no run, are taken */
    char link[256];
    snprintf(link, sizeof link, "%s/latest.safetensors", tmp);
    cr_assert_eq(symlink(ckpt, link), 0);
    const char *ok[] = {a, fresh}, *from[] = {link, ckpt};
    for (int k = 0; k < 2; k++) {
        run(&p, NULL, (const char *[]){"train", cfg, "--resume", from[k], "--run-dir", ok[k], "--set",
                                       k ? "train.steps=40" : "train.steps=30", "--threads", "1", "--quiet", NULL});
        cr_expect_eq(p.status, 0, "%s: %s", ok[k], p.err);
        proc_free(&p);
    }
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", fresh);
    cr_expect(exists(path), "no checkpoint in the fresh folder");
}

/* The folder a resume's path names counts even where the checkpoint is a
 * link kept elsewhere; a configured checkpoint path makes only that file
 * (and best.safetensors beside it) resumable anywhere, not the other
 * checkpoints in its folder. */
Test(resume, a_resume_goes_by_the_checkpoint_it_names) {
    char cfg[128], other[128], dir[128], path[256], store[256];
    small_run(cfg, dir, "run");
    struct proc p;
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    snprintf(store, sizeof store, "%s/kept.safetensors", tmp);
    cr_assert_eq(rename(path, store), 0);
    cr_assert_eq(symlink(store, path), 0);
    run(&p, NULL, (const char *[]){"train", cfg, "--resume", path, "--set", "train.steps=30", "--threads", "1",
                                   "--quiet", NULL});
    cr_expect_eq(p.status, 0, "a linked checkpoint in its own folder: %s", p.err);
    proc_free(&p);
    /* run b's checkpoint beside the configured one of this config */
    snprintf(other, sizeof other, "%s/other.safetensors", tmp);
    snprintf(path, sizeof path, "train.checkpoint.path=%s/mine.safetensors", tmp);
    cr_assert_eq(rename(store, other), 0); /* a checkpoint under another name, beside the configured one */
    run(&p, NULL, (const char *[]){"train", cfg, "--run-dir", dir, "--resume", other, "--set", path, "--set",
                                   "train.steps=40", "--threads", "1", "--quiet", NULL});
    cr_expect_eq(p.status, 1, "%s", p.err);
    cr_expect(strstr(p.err, "the run folder holds another run"), "%s", p.err);
    proc_free(&p);
}
