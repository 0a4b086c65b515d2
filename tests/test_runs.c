/* Run folders: a disk that refuses writes, two runs on one folder, runs
 * started in the same second, metrics files trimmed after a crash, a run
 * with nothing to plot yet. (Interrupted, killed and resumed runs:
 * tests/test_resume.c.) */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "runtime/config/config.h"
#include "runtime/base/escape.h"
#include "models/open.h"
#include "runtime/session/evaluate.h"
#include "runtime/session/runlog.h"

#define GRAPHRUN GR_BUILD_DIR "/graphrun"

static char tmp[64];

static void make_tmp(void) { tg_tmpdir(tmp, sizeof tmp, "runs"); }

static void remove_tmp(void) { tg_rmtree(tmp); }

TestSuite(runs, .init = make_tmp, .fini = remove_tmp, .timeout = 300);

/* The command as a child process (tests/helpers.c), in this suite's folder. */
#define proc tg_proc
#define run_full(...) tg_run_full(tmp, __VA_ARGS__)
#define run(...) tg_run(tmp, __VA_ARGS__)
#define proc_free tg_proc_free
#define count_lines tg_count_lines
#define expect_one_line tg_expect_one_line
#define write_text tg_write_text
#define small_config tg_small_config_file
#define sleep_ms tg_sleep_ms
#define exists tg_exists
#define start tg_start
#define wait_status tg_wait_status

/* A plot drawn into dir: a PNG of some size. */
static void expect_png(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/plot.png", dir);
    size_t len = 0;
    char *png = tg_slurp(path, &len);
    cr_expect(png && len > 1000 && memcmp(png, "\x89PNG", 4) == 0, "no plot drawn in %s", dir);
    free(png);
}

static long file_size(const char *path) {
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s", path);
    return (long)st.st_size;
}

/* train into tmp/full/NAME where only `bytes` can be written */
static void train_on_full_disk(struct proc *p, const char *cfg, const char *name, long bytes) {
    char prefix[160], after[64], dir[160];
    snprintf(prefix, sizeof prefix, "GR_FULL_PREFIX=%s/full/", tmp);
    snprintf(after, sizeof after, "GR_FULL_AFTER=%ld", bytes);
    snprintf(dir, sizeof dir, "%s/full/%s", tmp, name);
    const char *env[] = {"LD_PRELOAD=" GR_FULL_DISK, prefix, after, "ASAN_OPTIONS=verify_asan_link_order=0", NULL};
    run_full(p, NULL, env, NULL, (const char *[]){"train", cfg, "--run-dir", dir, "--threads", "1", "--quiet", NULL});
}

Test(runs, a_full_disk_stops_training_with_one_line_and_keeps_the_last_checkpoint) {
    char cfg[128], path[256];
    snprintf(cfg, sizeof cfg, "%s/small.yaml", tmp);
    small_config(cfg, 120, 50, "checkpoint: {every: 50}");
    /* the sizes of what a run writes, from a run on a disk with room */
    struct proc p;
    train_on_full_disk(&p, cfg, "roomy", 1L << 30);
    cr_assert_eq(p.status, 0, "%s", p.err);
    proc_free(&p);
    snprintf(path, sizeof path, "%s/full/roomy/config.yaml", tmp);
    long config = file_size(path);
    snprintf(path, sizeof path, "%s/full/roomy/checkpoint.safetensors", tmp);
    long ckpt = file_size(path);

    train_on_full_disk(&p, cfg, "none", 0);
    expect_one_line(&p, "/full/none/config.yaml: write failed: No space left on device", "no room at all");
    proc_free(&p);

    /* room for the config and part of the first rows */
    train_on_full_disk(&p, cfg, "rows", config + 100);
    expect_one_line(&p, "write failed: No space left on device; training stopped at step 50; no checkpoint was written",
                    "no room for the rows");
    cr_expect(strstr(p.err, "/full/rows/metrics.csv: ") || strstr(p.err, "/full/rows/metrics.jsonl: "), "%s", p.err);
    proc_free(&p);

    /* room for the first checkpoint, not the second */
    train_on_full_disk(&p, cfg, "ckpt", config + ckpt + ckpt / 2);
    snprintf(path, sizeof path, "the checkpoint of step 50 (%s/full/ckpt/checkpoint.safetensors) is kept", tmp);
    expect_one_line(&p, path, "no room for the second checkpoint");
    cr_expect(strstr(p.err, "/full/ckpt/checkpoint.safetensors: write failed: No space left on device; training "
                            "stopped at step 100"),
              "%s", p.err);
    proc_free(&p);
    /* the failed checkpoint's temporary file is gone */
    snprintf(path, sizeof path, "%s/full/ckpt", tmp);
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    for (struct dirent *e; (e = readdir(d));) cr_expect(!strstr(e->d_name, ".tmp"), "%s left behind", e->d_name);
    closedir(d);
    snprintf(path, sizeof path, "%s/full/ckpt/checkpoint.safetensors", tmp);
    run(&p, NULL, (const char *[]){"eval", cfg, "--checkpoint", path, NULL});
    cr_expect_eq(p.status, 0, "the kept checkpoint does not load: %s", p.err);
    cr_expect(strstr(p.out, "(step 50)"), "%s", p.out);
    proc_free(&p);
    /* its rows are on disk: the header and steps 10 to 50 at least */
    snprintf(path, sizeof path, "%s/full/ckpt/metrics.csv", tmp);
    char *csv = tg_slurp(path, NULL);
    cr_assert_not_null(csv);
    cr_expect(strncmp(csv, "step,epoch,loss,eval_accuracy,eval_loss,lr,grad_norm,wall_time\n", 63) == 0 && strstr(csv, "\n50,"), "%s", csv);
    free(csv);
}

/* ---- one run per folder, unique dated names ------------------------------- */

Test(runs, a_second_run_on_a_folder_in_use_is_refused) {
    char cfg[128], dir[128], out[128], err[128];
    snprintf(cfg, sizeof cfg, "%s/small.yaml", tmp);
    small_config(cfg, 100000, 1000, NULL);
    snprintf(dir, sizeof dir, "%s/shared", tmp);
    snprintf(out, sizeof out, "%s/a.out", tmp);
    snprintf(err, sizeof err, "%s/a.err", tmp);
    pid_t a = start(NULL, (const char *[]){"train", cfg, "--run-dir", dir, "--threads", "1", NULL}, out, err);
    /* the first run holds the folder once its header names it */
    for (int i = 0; i < 600; i++) {
        char *text = tg_slurp(out, NULL);
        int started = text && strstr(text, "  run:   ");
        free(text);
        if (started) break;
        cr_assert_eq(waitpid(a, NULL, WNOHANG), 0, "the first run ended early");
        sleep_ms(100);
    }
    struct proc p;
    run(&p, NULL, (const char *[]){"train", cfg, "--run-dir", dir, "--set", "train.steps=20", "--threads", "1", NULL});
    char want[256];
    snprintf(want, sizeof want, "%s: the run folder is in use by another graphrun run (process %ld)", dir, (long)a);
    expect_one_line(&p, want, "the second run");
    proc_free(&p);
    kill(a, SIGINT);
    cr_expect_eq(wait_status(a), 130);
    /* the folder is the first run's alone: its config, its rows */
    char path[256];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    char *text = tg_slurp(path, NULL);
    cr_expect(text && strstr(text, "steps: 100000"), "config.yaml: %s", text);
    free(text);
    /* and once it is free, the run that resumes it may use it */
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    run(&p, NULL, (const char *[]){"train", cfg, "--resume", path, "--set", "train.steps=20", "--threads", "1",
                                   "--quiet", NULL});
    cr_expect_eq(p.status, 0, "%s", p.err);
    proc_free(&p);
}

/* A folder that holds a run's files is taken only by the run that resumes
 * it: a new run would write its config, rows and checkpoint over them. And
 * the folder's config.yaml, when it is the config being read, is the
 * user's to edit: a resume leaves it as it is. */
Test(runs, a_new_run_on_a_folder_holding_a_run_is_refused) {
    char cfg[128], dir[128], path[256], mine[256];
    snprintf(cfg, sizeof cfg, "%s/small.yaml", tmp);
    small_config(cfg, 20, 1000, NULL);
    snprintf(dir, sizeof dir, "%s/run", tmp);
    struct proc p;
    run(&p, NULL, (const char *[]){"train", cfg, "--run-dir", dir, "--threads", "1", "--quiet", NULL});
    cr_assert_eq(p.status, 0, "%s", p.err);
    proc_free(&p);
    snprintf(mine, sizeof mine, "%s/config.yaml", dir);
    FILE *f = fopen(mine, "a");
    cr_assert_not_null(f);
    fputs("# my notes on this run\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    char *rows = tg_slurp(path, NULL);
    const char *configs[] = {cfg, mine};
    for (int k = 0; k < 2; k++) {
        run(&p, NULL, (const char *[]){"train", configs[k], "--run-dir", dir, "--threads", "1", "--quiet", NULL});
        char want[512];
        snprintf(want, sizeof want, "%s: the run folder already holds a run (config.yaml, metrics.csv, metrics.jsonl, "
                 "checkpoint.safetensors, plot.png, plot.gp); continue it with --resume %s/checkpoint.safetensors, or "
                 "choose another folder", dir, dir);
        expect_one_line(&p, want, configs[k]);
        proc_free(&p);
        char *now = tg_slurp(path, NULL);
        cr_expect(now && rows && strcmp(now, rows) == 0, "metrics.csv was rewritten: %s", now);
        free(now);
    }
    free(rows);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    run(&p, NULL, (const char *[]){"train", mine, "--resume", path, "--set", "train.steps=30", "--threads", "1",
                                   "--quiet", NULL});
    cr_expect_eq(p.status, 0, "%s", p.err);
    proc_free(&p);
    char *text = tg_slurp(mine, NULL);
    cr_expect(text && strstr(text, "# my notes on this run\n"), "config.yaml was rewritten: %s", text);
    free(text);
}

/* "half a file" at dir/name; the descriptor, open */
static int leftover(const char *dir, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0, "%s", path);
    cr_assert_eq(write(fd, "half a file", 11), 11);
    return fd;
}

/* A write cut short (kill -9) leaves its temporary beside the file; the
 * next run to take the folder removes those of the folder's own files
 * that no writer holds (a run sharing the checkpoint path may be writing
 * one), and nothing else; a run refused the folder removes nothing. */
Test(runs, a_run_removes_the_temporaries_of_writes_cut_short) {
    char cfg[128], dir[128], path[256];
    snprintf(cfg, sizeof cfg, "%s/small.yaml", tmp);
    small_config(cfg, 20, 1000, NULL);
    snprintf(dir, sizeof dir, "%s/cut", tmp);
    cr_assert_eq(mkdir(dir, 0755), 0);
    const char *name[] = {"checkpoint.safetensors.tmp.0a1b2c", "metrics.csv.tmp.ffffff", "plot.png.tmp.000000",
                          "notes.txt.tmp.123456", "checkpoint.safetensors.tmp.12345", "config.yaml.tmp.abcdeg",
                          "checkpoint.safetensors.tmp.0a1b2c3", "checkpoint.safetensors.tmp.bbbbbb"};
    int held = -1;
    for (int k = 0; k < 8; k++) {
        int fd = leftover(dir, name[k]);
        if (k < 7) close(fd);
        else held = fd; /* being written by another run */
    }
    cr_assert_eq(flock(held, LOCK_EX | LOCK_NB), 0);
    struct proc p;
    run(&p, NULL, (const char *[]){"train", cfg, "--run-dir", dir, "--threads", "1", "--quiet", NULL});
    cr_assert_eq(p.status, 0, "%s", p.err);
    proc_free(&p);
    for (int k = 0; k < 8; k++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, name[k]);
        cr_expect_eq(lstat(path, &st) == 0, k >= 3, "%s %s", name[k], k < 3 ? "was left" : "was removed");
    }
    close(held);
    /* the folder now holds a run: a new run is refused and removes nothing */
    close(leftover(dir, "metrics.jsonl.tmp.cccccc"));
    run(&p, NULL, (const char *[]){"train", cfg, "--run-dir", dir, "--threads", "1", "--quiet", NULL});
    cr_expect_eq(p.status, 1, "%s", p.err);
    proc_free(&p);
    struct stat st;
    snprintf(path, sizeof path, "%s/metrics.jsonl.tmp.cccccc", dir);
    cr_expect_eq(lstat(path, &st), 0, "a refused run removed a temporary");
}

/* the name without a -N suffix */
static void stem_of(const char *name, char *out, size_t len) {
    cr_assert_lt(strlen(name), len);
    snprintf(out, len, "%s", name);
    char *dash = strrchr(out, '-');
    if (dash && strlen(name) > strlen("small-20260101-000000")) *dash = 0;
}

Test(runs, runs_started_in_the_same_second_get_their_own_folders) {
    char cfg[128];
    snprintf(cfg, sizeof cfg, "%s/small.yaml", tmp);
    small_config(cfg, 20, 1000, NULL);
    enum { RUNS = 3 };
    int same_second = 0;
    for (int attempt = 0; attempt < 4 && !same_second; attempt++) {
        char cwd[128];
        snprintf(cwd, sizeof cwd, "%s/try%d", tmp, attempt);
        cr_assert_eq(mkdir(cwd, 0755), 0);
        pid_t pids[RUNS];
        for (int r = 0; r < RUNS; r++) {
            char out[160], err[160];
            snprintf(out, sizeof out, "%s/%d.out", cwd, r);
            snprintf(err, sizeof err, "%s/%d.err", cwd, r);
            pids[r] = start(cwd, (const char *[]){"train", cfg, "--threads", "1", "--quiet", NULL}, out, err);
        }
        for (int r = 0; r < RUNS; r++) cr_expect_eq(wait_status(pids[r]), 0, "run %d failed", r);
        char runs[160];
        snprintf(runs, sizeof runs, "%s/runs", cwd);
        DIR *d = opendir(runs);
        cr_assert_not_null(d);
        char stems[RUNS + 2][300];
        int n = 0;
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            cr_assert_lt(n, RUNS, "more folders than runs");
            stem_of(e->d_name, stems[n], sizeof stems[n]);
            for (int k = 0; k < n; k++) same_second |= strcmp(stems[k], stems[n]) == 0;
            /* each folder holds one run's rows: the header, steps 10 and 20 */
            char path[512];
            snprintf(path, sizeof path, "%s/%s/metrics.csv", runs, e->d_name);
            char *csv = tg_slurp(path, NULL);
            cr_assert_not_null(csv, "no %s", path);
            cr_expect_eq(count_lines(csv), 3, "%s:\n%s", path, csv);
            free(csv);
            n++;
        }
        closedir(d);
        cr_expect_eq(n, RUNS, "%d runs wrote %d folders", RUNS, n);
    }
    cr_expect(same_second, "no two runs started in the same second in 4 attempts");
}

/* ---- metrics after a crash ----------------------------------------------- */

#define HEADER "step,epoch,loss,eval_accuracy,eval_loss,lr,grad_norm,wall_time\n"

Test(runs, trimming_keeps_the_header_and_the_whole_rows_up_to_the_checkpoint) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/m.csv", tmp);
    const char *header = HEADER;
    struct {
        const char *in, *out;
    } csv[] = {
        /* the header lost (a crash before the first flush) */
        {"", ""},
        {"10,0.1,2.0,,,0.01,1.5,0.1\n20,0.2,1.5,,,0.01,1.5,0.2\n",
         "10,0.1,2.0,,,0.01,1.5,0.1\n20,0.2,1.5,,,0.01,1.5,0.2\n"},
        /* rows past the checkpoint, and a last line cut short */
        {HEADER "10,0.1,2.0,,,0.01,1.5,0.1\n30,0.3,1.0,0.5,0.7,0.01,1.5,0.3\n40,0.4,0.9,,,0.01,1.5,0.4\n35,0.3",
         "10,0.1,2.0,,,0.01,1.5,0.1\n30,0.3,1.0,0.5,0.7,0.01,1.5,0.3\n"},
        /* a row repeated by an earlier resume, a line that is not a row */
        {HEADER "10,0.1,2.0,,,0.01,1.5,0.1\n20,0.2,1.5,,,0.01,1.5,0.2\n10,0.1,2.0,,,0.01,1.5,0.1\n"
         "garbage\n30,0.3,1.0\n",
         "10,0.1,2.0,,,0.01,1.5,0.1\n20,0.2,1.5,,,0.01,1.5,0.2\n"},
    };
    for (size_t i = 0; i < sizeof csv / sizeof csv[0]; i++) {
        write_text(path, csv[i].in);
        cr_assert_eq(gr_metrics_trim(&ctx, path, 35, 0), 0, "%s", ctx.err);
        char *got = tg_slurp(path, NULL), want[512];
        snprintf(want, sizeof want, "%s%s", header, csv[i].out);
        cr_expect_str_eq(got, want, "case %zu", i);
        free(got);
    }
    /* JSON lines: "step" read as JSON, wherever it is and however spaced */
    snprintf(path, sizeof path, "%s/m.jsonl", tmp);
    write_text(path, "{\"step\": 10, \"loss\": 2.0}\n"
                     "{\"loss\": 1.5, \"step\":20}\n"
                     "{\"step\": 30, \"note\": \"\\\"step\\\": 99\"}\n"
                     "{\"step\": 40, \"loss\": 0.9}\n"
                     "not json\n"
                     "{\"step\": 33, \"lo");
    cr_assert_eq(gr_metrics_trim(&ctx, path, 35, 1), 0, "%s", ctx.err);
    char *got = tg_slurp(path, NULL);
    cr_expect_str_eq(got, "{\"step\": 10, \"loss\": 2.0}\n{\"loss\": 1.5, \"step\":20}\n"
                          "{\"step\": 30, \"note\": \"\\\"step\\\": 99\"}\n");
    free(got);
    /* nothing left behind */
    snprintf(path, sizeof path, "%s/m.jsonl.tmp", tmp);
    cr_expect(!exists(path));
    gr_ctx_free(&ctx);
}

/* ---- nothing to plot yet -------------------------------------------------- */

Test(runs, a_run_stopped_before_its_first_row_says_there_is_nothing_to_plot) {
    char cfg[128], dir[128], out[160], err[160];
    snprintf(cfg, sizeof cfg, "%s/small.yaml", tmp);
    small_config(cfg, 100000, 100000, "log_every: 100000");
    snprintf(dir, sizeof dir, "%s/early", tmp);
    snprintf(out, sizeof out, "%s/e.out", tmp);
    snprintf(err, sizeof err, "%s/e.err", tmp);
    pid_t pid = start(NULL, (const char *[]){"train", cfg, "--run-dir", dir, "--threads", "1", NULL}, out, err);
    for (int i = 0; i < 600; i++) {
        char *text = tg_slurp(out, NULL);
        int started = text && strstr(text, "  run:   ");
        free(text);
        if (started) break;
        sleep_ms(100);
    }
    kill(pid, SIGINT);
    cr_expect_eq(wait_status(pid), 130);
    char *o = tg_slurp(out, NULL), *e = tg_slurp(err, NULL);
    cr_expect_eq(e[0], 0, "stderr: %s", e);
    cr_expect(strstr(o, "(metrics.csv, metrics.jsonl, config.yaml; no plot: no metrics rows yet)"), "%s", o);
    free(o);
    free(e);
    struct proc p;
    run(&p, NULL, (const char *[]){"plot", dir, NULL});
    expect_one_line(&p, "metrics.csv has no rows yet: nothing to plot", "graphrun plot");
    proc_free(&p);
    /* a loss that is not positive (a plugin's) has no log scale, but a plot */
    char path[256];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    write_text(path, "step,epoch,loss,eval_accuracy,eval_loss,lr,grad_norm,wall_time\n10,0.1,-2.0,,,0.01,1.5,0.1\n"
                     "20,0.2,0.0,0.5,0.7,0.01,1.5,0.2\n");
    run(&p, NULL, (const char *[]){"plot", dir, NULL});
    cr_expect_eq(p.status, 0, "%s", p.err);
    expect_png(dir);
    proc_free(&p);
}

/* ---- a signal while gnuplot draws ------------------------------------------ */

/* A stand-in for gnuplot, first on PATH: `body`, then a plot.png. */
static void fake_gnuplot(const char *dir, const char *body) {
    char path[256], text[1024];
    cr_assert_eq(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/gnuplot", dir);
    snprintf(text, sizeof text, "#!/bin/sh\n%s\nsleep 0.5\nprintf 'drawn by the stand-in' >plot.png\n", body);
    write_text(path, text);
    cr_assert_eq(chmod(path, 0755), 0);
}

/* SIGINT while gnuplot draws, sent by `kill` (`body`) to graphrun alone or,
 * as Ctrl-C on a terminal does, to its whole process group: graphrun waits
 * for gnuplot (which has a group of its own, so it finishes plot.png), says
 * nothing false about the plot and exits 130, as an interrupted run does.
 * setsid gives graphrun a group of its own to signal. */
static void interrupt_the_plot(const char *name, const char *body) {
    char cfg[128], bin[128], dir[128], path[256];
    snprintf(cfg, sizeof cfg, "%s/small.yaml", tmp);
    small_config(cfg, 20, 100000, NULL);
    snprintf(bin, sizeof bin, "%s/bin-%s", tmp, name);
    fake_gnuplot(bin, body);
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    int rc = tg_sh(NULL, "cd %s && PATH='%s':\"$PATH\" setsid -w %s train %s --run-dir %s --threads 1 --quiet >%s/c.out "
                         "2>%s/c.err",
                   tmp, bin, GRAPHRUN, cfg, dir, tmp, tmp);
    snprintf(path, sizeof path, "%s/c.err", tmp);
    char *e = tg_slurp(path, NULL);
    cr_expect_eq(rc, 130, "%s: exit status %d: %s", name, rc, e);
    cr_expect_str_eq(e, "", "%s", name);
    free(e);
    snprintf(path, sizeof path, "%s/c.out", tmp);
    char *o = tg_slurp(path, NULL);
    cr_expect(o && strstr(o, "(plot.png, metrics.csv, metrics.jsonl, config.yaml)"), "%s: %s", name, o);
    free(o);
    /* gnuplot had finished when graphrun exited */
    snprintf(path, sizeof path, "%s/plot.png", dir);
    char *png = tg_slurp(path, NULL);
    cr_expect(png && strcmp(png, "drawn by the stand-in") == 0, "%s: plot.png: %s", name, png ? png : "(none)");
    free(png);
}

Test(runs, sigint_while_gnuplot_draws_exits_130_after_gnuplot_has_finished) {
    interrupt_the_plot("graphrun", "kill -INT $PPID");
    /* field 5 of /proc/PID/stat: the process group of graphrun (the parent) */
    interrupt_the_plot("group", "kill -INT -$(cut -d' ' -f5 /proc/$PPID/stat)");
}

/* gnuplot ended by a signal: the message says so, not that it "failed" with
 * messages in a log it never wrote. */
Test(runs, gnuplot_ended_by_a_signal_is_reported_as_such) {
    char cfg[128], bin[128], dir[128], want[512];
    snprintf(cfg, sizeof cfg, "%s/small.yaml", tmp);
    small_config(cfg, 20, 100000, NULL);
    snprintf(bin, sizeof bin, "%s/bin", tmp);
    fake_gnuplot(bin, "kill -KILL $$");
    snprintf(dir, sizeof dir, "%s/killed", tmp);
    char path_env[300];
    snprintf(path_env, sizeof path_env, "PATH=%s:%s", bin, getenv("PATH"));
    struct proc p;
    run_full(&p, NULL, (const char *[]){path_env, NULL}, NULL,
             (const char *[]){"train", cfg, "--run-dir", dir, "--threads", "1", "--quiet", NULL});
    snprintf(want, sizeof want, "graphrun train: no plot: gnuplot was ended by signal %d (%s) before it finished %s/plot.png\n",
             SIGKILL, strsignal(SIGKILL), dir);
    cr_expect_eq(p.status, 0, "%s", p.err);
    cr_expect_str_eq(p.err, want);
    proc_free(&p);
}
