/* What graphrun writes, and where it cannot: strings that reach another
 * program (gnuplot, Graphviz, JSON readers) whatever bytes they hold; a
 * standard output or a disk that refuses writes; two runs on one folder;
 * metrics files after a crash, an interrupt and a resume; a run with
 * nothing to plot yet. Commands run without a shell, so that file names
 * can hold anything. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void make_tmp(void) { tg_tmpdir(tmp, sizeof tmp, "outputs"); }

static void remove_tmp(void) { tg_rmtree(tmp); }

TestSuite(outputs, .init = make_tmp, .fini = remove_tmp, .timeout = 300);

/* ---- running the command -------------------------------------------------- */

struct proc {
    int status;     /* exit status, or -1 after a signal */
    int signal;     /* the signal, if one ended it */
    char *out, *err; /* what it printed (NULL if stdout went elsewhere) */
};

/* argv[0] is graphrun's first argument. In `cwd` (NULL: here), with `env`
 * (NULL-terminated "K=V" list, or NULL) added, stdout to `stdout_to` (NULL:
 * captured). */
static void run_full(struct proc *p, const char *cwd, const char *const *env, const char *stdout_to,
                     const char *const *argv) {
    char outf[128], errf[128];
    snprintf(outf, sizeof outf, "%s/.stdout", tmp);
    snprintf(errf, sizeof errf, "%s/.stderr", tmp);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (cwd && chdir(cwd) != 0) _exit(126);
        int o = open(stdout_to ? stdout_to : outf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0) _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        for (int i = 0; env && env[i]; i++) {
            char kv[512];
            snprintf(kv, sizeof kv, "%s", env[i]);
            char *eq = strchr(kv, '=');
            if (!eq) _exit(126);
            *eq = 0;
            setenv(kv, eq + 1, 1);
        }
        const char *args[64];
        int n = 0;
        args[n++] = GRAPHRUN;
        for (int i = 0; argv[i] && n < 63; i++) args[n++] = argv[i];
        args[n] = NULL;
        execv(GRAPHRUN, (char *const *)args);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    p->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    p->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    p->out = stdout_to ? NULL : tg_slurp(outf, NULL);
    p->err = tg_slurp(errf, NULL);
    cr_assert(p->err && (stdout_to || p->out));
}

static void run(struct proc *p, const char *cwd, const char *const *argv) { run_full(p, cwd, NULL, NULL, argv); }

static void proc_free(struct proc *p) {
    free(p->out);
    free(p->err);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* exit status 1 and exactly one line on stderr holding `want` */
static void expect_one_line(const struct proc *p, const char *want, const char *what) {
    cr_expect_eq(p->status, 1, "%s: exit status %d (signal %d), stderr: %s", what, p->status, p->signal, p->err);
    size_t n = strlen(p->err);
    cr_expect(count_lines(p->err) == 1 && n > 0 && p->err[n - 1] == '\n', "%s: not one line on stderr: %s", what,
              p->err);
    cr_expect(strstr(p->err, want), "%s: expected '%s' in: %s", what, want, p->err);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* A small config (16 LSTM units, 2000 training images) at `path`. */
static void small_config(const char *path, int steps, int eval_every, const char *train_extra) {
    char text[4096];
    tg_small_config(text, sizeof text, 16, steps, "{name: adam, lr: 0.01}", train_extra, eval_every);
    write_text(path, text);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- escaping: every language's literal, whatever the bytes --------------- */

static char *written(int (*put)(FILE *, const char *), const char *s) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    cr_assert_eq(put(f, s), 0);
    fclose(f);
    return buf;
}

Test(outputs, each_escaper_writes_one_literal_of_its_language) {
    /* tab, newline, quote, backslash, control bytes, DEL, an apostrophe,
     * UTF-8, and bytes that are not UTF-8 (a lone 0xff, a cut sequence, an
     * overlong '/', a surrogate) */
    const char *s = "a\tb\nc\"d\\e\x01" "f\x7f" "g'h \xc3\xa9 \xff \xe2\x82 \xc0\xaf \xed\xa0\x80.";
    const char *fffd = "\xef\xbf\xbd";
    char want[256];
    snprintf(want, sizeof want, "a\tb\nc\"d\\e\x01" "f\x7f" "g'h \xc3\xa9 %s %s%s %s%s %s%s%s.", fffd, fffd, fffd,
             fffd, fffd, fffd, fffd, fffd);

    char *json = written(gr_put_json_string, s);
    json_error_t jerr;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &jerr);
    cr_assert_not_null(v, "not JSON: %s (%s)", json, jerr.text);
    cr_expect_str_eq(json_string_value(v), want, "JSON %s", json);
    cr_expect_null(strpbrk(json, "\t\n\x01\x7f"), "raw control bytes in %s", json);
    json_decref(v);
    free(json);

    char *dot = written(gr_put_dot_string, "a\"b\\c\nd\x01\xff" "e");
    cr_expect_str_eq(dot, "\"a\\\"b\\\\c\\nd??e\"");
    free(dot);

    char *text = written(gr_put_text, "a\nb\\c\x01\td\xff");
    cr_expect_str_eq(text, "a\\nb\\\\c\\x01\\td\\xff");
    free(text);

    /* gnuplot reads the literal back as the string, apostrophes and
     * backslashes whole, control bytes as '?' */
    char *gp = written(gr_put_gnuplot_string, "it's a \\ \"x\"\nprint 'y'");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "print %s", gp);
    char *out;
    int rc = tg_sh(&out, "gnuplot -e \"$(cat <<'EOF'\n%s\nEOF\n)\" 2>&1", cmd);
    cr_expect_eq(rc, 0, "%s: %s", cmd, out);
    cr_expect_str_eq(out, "it's a \\ \"x\"?print 'y'\n", "gnuplot read %s back as %s", gp, out);
    free(out);
    free(gp);
}

/* ---- names that reach gnuplot and Graphviz -------------------------------- */

/* A name with an apostrophe, a double quote, a backslash, newlines and a
 * gnuplot command that would create PWNED. */
#define PAYLOAD "q\\'\"\nsystem(\"touch PWNED\")\n#x"

static void expect_no_pwned(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/PWNED", dir);
    cr_expect(!exists(path), "a name ran a command: %s exists", path);
}

static void expect_png(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/plot.png", dir);
    size_t len = 0;
    char *png = tg_slurp(path, &len);
    cr_expect(png && len > 1000 && memcmp(png, "\x89PNG", 4) == 0, "no plot drawn in %s", dir);
    free(png);
}

Test(outputs, a_run_folder_or_config_named_with_quotes_newlines_and_code_is_plotted_and_runs_nothing) {
    char cfg[256], dir[600];
    snprintf(cfg, sizeof cfg, "%s/%s.yaml", tmp, PAYLOAD);
    small_config(cfg, 30, 20, NULL);
    snprintf(dir, sizeof dir, "%s/%s", tmp, PAYLOAD);

    /* the folder named by --run-dir */
    struct proc p;
    run(&p, tmp, (const char *[]){"train", cfg, "--run-dir", PAYLOAD, "--threads", "1", "--quiet", NULL});
    cr_expect_eq(p.status, 0, "%s", p.err);
    cr_expect_eq(p.err[0], 0, "stderr: %s", p.err);
    expect_png(dir);
    expect_no_pwned(tmp);
    expect_no_pwned(dir);
    proc_free(&p);
    char png[700];
    snprintf(png, sizeof png, "%s/plot.png", dir);
    unlink(png);
    run(&p, tmp, (const char *[]){"plot", PAYLOAD, NULL});
    cr_expect_eq(p.status, 0, "graphrun plot: %s", p.err);
    expect_png(dir);
    expect_no_pwned(tmp);
    proc_free(&p);

    /* the dated folder named after the config */
    run(&p, tmp, (const char *[]){"train", cfg, "--threads", "1", "--quiet", NULL});
    cr_expect_eq(p.status, 0, "%s", p.err);
    char runs[256];
    snprintf(runs, sizeof runs, "%s/runs", tmp);
    DIR *d = opendir(runs);
    cr_assert_not_null(d, "no %s", runs);
    int folders = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        folders++;
        cr_expect(strncmp(e->d_name, PAYLOAD "-", strlen(PAYLOAD) + 1) == 0, "folder %s", e->d_name);
        snprintf(dir, sizeof dir, "%s/%s", runs, e->d_name);
        expect_png(dir);
        expect_no_pwned(dir);
    }
    closedir(d);
    cr_expect_eq(folders, 1);
    expect_no_pwned(tmp);
    proc_free(&p);

    /* DOT: the config's path is in a comment; Graphviz still reads it */
    char dotfile[256], svg[256];
    snprintf(dotfile, sizeof dotfile, "%s/g.dot", tmp);
    snprintf(svg, sizeof svg, "%s/g.svg", tmp);
    run(&p, tmp, (const char *[]){"graph", cfg, "--backward", "-o", dotfile, NULL});
    cr_expect_eq(p.status, 0, "%s", p.err);
    proc_free(&p);
    char *out;
    cr_expect_eq(tg_sh(&out, "dot -Tsvg '%s' -o '%s' 2>&1", dotfile, svg), 0, "Graphviz refused the DOT: %s", out);
    free(out);
}

/* ---- JSON from predict ---------------------------------------------------- */

static void write_pgm(const char *path) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fprintf(f, "P5\n28 28\n255\n");
    for (int i = 0; i < 28 * 28; i++) fputc((i * 7) % 256, f);
    cr_assert_eq(fclose(f), 0);
}

/* a 10-step run into tmp/run: its checkpoint for eval and predict */
static void trained(char *cfg, size_t len) {
    snprintf(cfg, len, "%s/small.yaml", tmp);
    small_config(cfg, 10, 10, NULL);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/run", tmp);
    struct proc p;
    run(&p, NULL, (const char *[]){"train", cfg, "--run-dir", dir, "--threads", "1", "--quiet", NULL});
    cr_assert_eq(p.status, 0, "%s", p.err);
    proc_free(&p);
}

Test(outputs, predict_json_holds_any_file_name) {
    char cfg[128], ckpt[128];
    trained(cfg, sizeof cfg);
    snprintf(ckpt, sizeof ckpt, "%s/run/checkpoint.safetensors", tmp);
    const char *names[] = {"tab\there.pgm", "new\nline.pgm", "quo\"te.pgm", "back\\slash.pgm", "ctl\x01\x1f" "byte.pgm",
                           "del\x7f.pgm", "caf\xc3\xa9.pgm", "not\xffutf8.pgm"};
    const char *want[] = {"tab\there.pgm", "new\nline.pgm", "quo\"te.pgm", "back\\slash.pgm", "ctl\x01\x1f" "byte.pgm",
                          "del\x7f.pgm", "caf\xc3\xa9.pgm", "not\xef\xbf\xbdutf8.pgm"};
    enum { N = sizeof names / sizeof names[0] };
    const char *argv[8 + N] = {"predict", cfg, "--checkpoint", ckpt, "--json"};
    for (int i = 0; i < N; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", tmp, names[i]);
        write_pgm(path);
        argv[5 + i] = names[i];
    }
    struct proc p;
    run(&p, tmp, argv);
    cr_assert_eq(p.status, 0, "%s", p.err);
    json_error_t jerr;
    json_t *arr = json_loads(p.out, 0, &jerr);
    cr_assert(json_is_array(arr), "predict --json is not JSON: %s (line %d): %s", jerr.text, jerr.line, p.out);
    cr_assert_eq(json_array_size(arr), N);
    for (int i = 0; i < N; i++) {
        const char *got = json_string_value(json_object_get(json_array_get(arr, (size_t)i), "image"));
        cr_expect(got && strcmp(got, want[i]) == 0, "image %d: '%s', expected '%s'", i, got ? got : "(none)", want[i]);
    }
    json_decref(arr);
    /* and Python's reader agrees that it is JSON */
    char out[256];
    snprintf(out, sizeof out, "%s/p.json", tmp);
    write_text(out, p.out);
    char *py;
    cr_expect_eq(tg_sh(&py, "/usr/bin/python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' '%s' 2>&1",
                       out),
                 0, "%s", py);
    cr_expect_eq(atoi(py), N, "%s", py);
    free(py);
    proc_free(&p);
}

/* ---- a standard output that cannot be written ----------------------------- */

Test(outputs, every_command_fails_when_its_output_cannot_be_written) {
    char cfg[128], ckpt[128], img[128];
    trained(cfg, sizeof cfg);
    snprintf(ckpt, sizeof ckpt, "%s/run/checkpoint.safetensors", tmp);
    snprintf(img, sizeof img, "%s/digit.pgm", tmp);
    write_pgm(img);
    const char *const cmds[][12] = {
        {"graph", cfg, NULL},
        {"graph", cfg, "--backward", NULL},
        {"summary", cfg, NULL},
        {"check", cfg, NULL},
        {"eval", cfg, "--checkpoint", ckpt, "--threads", "1", NULL},
        {"predict", cfg, "--checkpoint", ckpt, img, NULL},
        {"predict", cfg, "--checkpoint", ckpt, img, "--json", NULL},
        {"ops", NULL},
        {"ops", "lstm", NULL},
        {"train", cfg, "--no-run-dir", "--quiet", "--threads", "1", NULL},
        {"train", cfg, "--no-run-dir", "--threads", "1", NULL},
        {"--help", NULL},
    };
    for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
        struct proc p;
        run_full(&p, NULL, NULL, "/dev/full", cmds[c]);
        /* errno's text when the last flush is the failing one; stdio
         * forgets it after an earlier failure (a training run flushes its
         * lines as they come) */
        expect_one_line(&p, "cannot write the standard output", cmds[c][0]);
        cr_expect(strcmp(cmds[c][0], "train") == 0 || strstr(p.err, ": No space left on device\n"), "%s", p.err);
        proc_free(&p);
    }
    /* files named on the command line */
    struct proc p;
    run(&p, NULL, (const char *[]){"graph", cfg, "-o", "/dev/full", NULL});
    expect_one_line(&p, "/dev/full: write failed: No space left on device", "graph -o");
    proc_free(&p);
    run(&p, NULL, (const char *[]){"eval", cfg, "--checkpoint", ckpt, "--predictions", "/dev/full", NULL});
    expect_one_line(&p, "/dev/full: write failed: No space left on device", "eval --predictions");
    proc_free(&p);
}

/* ---- a full disk ---------------------------------------------------------- */

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

Test(outputs, a_full_disk_stops_training_with_one_line_and_keeps_the_last_checkpoint) {
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
    cr_expect(strstr(p.err, "/full/ckpt/checkpoint.safetensors.tmp: write failed: No space left on device; training "
                            "stopped at step 100"),
              "%s", p.err);
    proc_free(&p);
    snprintf(path, sizeof path, "%s/full/ckpt/checkpoint.safetensors", tmp);
    run(&p, NULL, (const char *[]){"eval", cfg, "--checkpoint", path, NULL});
    cr_expect_eq(p.status, 0, "the kept checkpoint does not load: %s", p.err);
    cr_expect(strstr(p.out, "(step 50)"), "%s", p.out);
    proc_free(&p);
    /* its rows are on disk: the header and steps 10 to 50 at least */
    snprintf(path, sizeof path, "%s/full/ckpt/metrics.csv", tmp);
    char *csv = tg_slurp(path, NULL);
    cr_assert_not_null(csv);
    cr_expect(strncmp(csv, "step,epoch,loss,eval_accuracy,lr,wall_time\n", 43) == 0 && strstr(csv, "\n50,"), "%s", csv);
    free(csv);
}

/* ---- one run per folder, unique dated names ------------------------------- */

/* graphrun started in the background, stdout and stderr to files */
static pid_t start(const char *cwd, const char *const *argv, const char *out, const char *err) {
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (cwd && chdir(cwd) != 0) _exit(126);
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0) _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        const char *args[32] = {GRAPHRUN};
        for (int i = 0; argv[i] && i < 30; i++) args[i + 1] = argv[i];
        execv(GRAPHRUN, (char *const *)args);
        _exit(127);
    }
    return pid;
}

static int wait_status(pid_t pid) {
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

Test(outputs, a_second_run_on_a_folder_in_use_is_refused) {
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
    /* and once it is free, a run may use it */
    run(&p, NULL, (const char *[]){"train", cfg, "--run-dir", dir, "--set", "train.steps=20", "--threads", "1",
                                   "--quiet", NULL});
    cr_expect_eq(p.status, 0, "%s", p.err);
    proc_free(&p);
}

/* the name without a -N suffix */
static void stem_of(const char *name, char *out, size_t len) {
    cr_assert_lt(strlen(name), len);
    snprintf(out, len, "%s", name);
    char *dash = strrchr(out, '-');
    if (dash && strlen(name) > strlen("small-20260101-000000")) *dash = 0;
}

Test(outputs, runs_started_in_the_same_second_get_their_own_folders) {
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

/* ---- metrics after a crash, an interrupt and a resume --------------------- */

Test(outputs, trimming_keeps_the_header_and_the_whole_rows_up_to_the_checkpoint) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/m.csv", tmp);
    const char *header = "step,epoch,loss,eval_accuracy,lr,wall_time\n";
    struct {
        const char *in, *out;
    } csv[] = {
        /* the header lost (a crash before the first flush) */
        {"", ""},
        {"10,0.1,2.0,,0.01,0.1\n20,0.2,1.5,,0.01,0.2\n", "10,0.1,2.0,,0.01,0.1\n20,0.2,1.5,,0.01,0.2\n"},
        /* rows past the checkpoint, and a last line cut short */
        {"step,epoch,loss,eval_accuracy,lr,wall_time\n10,0.1,2.0,,0.01,0.1\n30,0.3,1.0,0.5,0.01,0.3\n40,0.4,0.9,,0.01,"
         "0.4\n35,0.3",
         "10,0.1,2.0,,0.01,0.1\n30,0.3,1.0,0.5,0.01,0.3\n"},
        /* a row repeated by an earlier resume, a line that is not a row */
        {"step,epoch,loss,eval_accuracy,lr,wall_time\n10,0.1,2.0,,0.01,0.1\n20,0.2,1.5,,0.01,0.2\n10,0.1,2.0,,0.01,0.1\n"
         "garbage\n30,0.3,1.0\n",
         "10,0.1,2.0,,0.01,0.1\n20,0.2,1.5,,0.01,0.2\n"},
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

Test(outputs, an_interrupt_between_two_rows_resumes_into_the_unbroken_runs_rows) {
    char text[4096], a[128], b[128], ckpt[160];
    tg_small_config(text, sizeof text, 16, 60, "{name: adam, lr: 0.01}", "checkpoint: {every: 1}", 50);
    snprintf(a, sizeof a, "%s/unbroken", tmp);
    snprintf(b, sizeof b, "%s/stopped", tmp);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", b);
    struct gr_train_result res;
    train_lib(text, a, NULL, NULL, &res);
    /* stopped after step 25, between the rows of steps 20 and 30 */
    struct interrupter it = {0, 0, 24, 0};
    train_lib(text, b, NULL, &it, &res);
    cr_assert(res.interrupted && res.checkpoint_step == 25, "stopped at %lld", (long long)res.checkpoint_step);
    train_lib(text, b, ckpt, NULL, &res);
    cr_assert_eq(res.steps, 60);
    expect_same_metrics(a, b);
}

Test(outputs, a_resume_after_the_header_was_lost_writes_it_again) {
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
    cr_expect_str_eq(strtok(csv, "\n"), "step,epoch,loss,eval_accuracy,lr,wall_time");
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

Test(outputs, killed_and_resumed_runs_write_the_unbroken_runs_metrics, .timeout = 400) {
    char cfg[128], straight[128], dir[128], ckpt[160];
    snprintf(cfg, sizeof cfg, "%s/small.yaml", tmp);
    /* checkpoints every 7 steps land between rows (every 10) */
    small_config(cfg, 400, 50, "checkpoint: {every: 7}");
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
}

/* ---- nothing to plot yet -------------------------------------------------- */

Test(outputs, a_run_stopped_before_its_first_row_says_there_is_nothing_to_plot) {
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
    write_text(path, "step,epoch,loss,eval_accuracy,lr,wall_time\n10,0.1,-2.0,,0.01,0.1\n20,0.2,0.0,0.5,0.01,0.2\n");
    run(&p, NULL, (const char *[]){"plot", dir, NULL});
    cr_expect_eq(p.status, 0, "%s", p.err);
    expect_png(dir);
    proc_free(&p);
}
