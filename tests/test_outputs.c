/* What graphrun writes for other programs, and where it cannot: strings
 * that reach another program (gnuplot, Graphviz, JSON readers) whatever
 * bytes they hold, and a standard output that refuses writes. (Run folders
 * are tests/test_runs.c's.) Commands run without a shell, so that file
 * names can hold anything. */
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
    char cfg[128], ckpt[128], img[128], onnx[128];
    trained(cfg, sizeof cfg);
    snprintf(ckpt, sizeof ckpt, "%s/run/checkpoint.safetensors", tmp);
    snprintf(img, sizeof img, "%s/digit.pgm", tmp);
    snprintf(onnx, sizeof onnx, "%s/model.onnx", tmp);
    write_pgm(img);
    const char *const cmds[][12] = {
        {"graph", cfg, NULL},
        {"graph", cfg, "--backward", NULL},
        {"summary", cfg, NULL},
        {"check", cfg, NULL},
        {"eval", cfg, "--checkpoint", ckpt, "--threads", "1", NULL},
        {"predict", cfg, "--checkpoint", ckpt, img, NULL},
        {"predict", cfg, "--checkpoint", ckpt, img, "--json", NULL},
        {"export", cfg, "--checkpoint", ckpt, "-o", onnx, NULL},
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

/* A closed standard output: the files the run opens do not take its
 * number (the run folder's lock file did, and held every line printed),
 * and the run still says it could not write. */
Test(outputs, a_closed_standard_output_lands_in_no_file) {
    char cfg[128], *out = NULL;
    trained(cfg, sizeof cfg);
    int rc = tg_sh(&out, "'%s' train '%s' --threads 1 --run-dir '%s/closed' 2>&1 >&-", GRAPHRUN, cfg, tmp);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "graphrun train: cannot write the standard output: Bad file descriptor\n") != NULL, "%s", out);
    free(out);
    const char *files[] = {".lock", "metrics.csv", "config.yaml"};
    for (int i = 0; i < 3; i++) {
        char path[192];
        snprintf(path, sizeof path, "%s/closed/%s", tmp, files[i]);
        size_t len = 0;
        char *text = tg_slurp(path, &len);
        cr_assert_not_null(text, "%s is missing", path);
        cr_expect(!strstr(text, "test accuracy"), "the printed lines went into %s:\n%s", files[i], text);
        cr_expect(i > 0 || len == 0, "the lock file holds %zu bytes", len);
        free(text);
    }
    /* the closed stream reopened by name cannot take the model either (a
     * held /dev/null took it and the export reported success) */
    rc = tg_sh(&out, "'%s' export '%s' --checkpoint '%s/run/checkpoint.safetensors' -o /dev/stdout 2>&1 >&-", GRAPHRUN,
               cfg, tmp);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "/dev/stdout: cannot write: ") != NULL, "%s", out);
    free(out);
}

/* ---- outputs that are no regular files ----------------------------------- */

/* The model `export` writes to `path` (its stdout and stderr in p). */
static void export_to(struct proc *p, const char *cfg, const char *ckpt, const char *path) {
    run(p, NULL, (const char *[]){"export", cfg, "--checkpoint", ckpt, "-o", path, NULL});
}

static int is_link(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

/* Devices and pipes are reached through links in the test's folder: a
 * graphrun that renamed a file over its output would replace the link,
 * not /dev/full or /dev/stdout themselves. */
Test(outputs, export_writes_into_devices_and_pipes_and_through_links) {
    char cfg[128], ckpt[128], model[128], path[256], target[256];
    trained(cfg, sizeof cfg);
    snprintf(ckpt, sizeof ckpt, "%s/run/checkpoint.safetensors", tmp);
    snprintf(model, sizeof model, "%s/model.onnx", tmp);
    struct proc p;
    export_to(&p, cfg, ckpt, model);
    cr_assert_eq(p.status, 0, "%s", p.err);
    proc_free(&p);
    size_t want_len, got_len;
    char *want = tg_slurp(model, &want_len);
    cr_assert(want && want_len > 1000);

    /* a full device: the write fails, as the README promises */
    snprintf(path, sizeof path, "%s/full.onnx", tmp);
    cr_assert_eq(symlink("/dev/full", path), 0);
    export_to(&p, cfg, ckpt, path);
    expect_one_line(&p, "full.onnx: write failed: No space left on device", "export -o a link to /dev/full");
    cr_expect(is_link(path), "the link to /dev/full was replaced");
    proc_free(&p);

    /* the standard output on a pipe: the model alone streams through it */
    snprintf(path, sizeof path, "%s/stdout.onnx", tmp);
    cr_assert_eq(symlink("/dev/stdout", path), 0);
    int rc = tg_sh(NULL, "'%s' export '%s' --checkpoint '%s' -o '%s' 2>/dev/null | cmp -s - '%s'", GRAPHRUN, cfg,
                   ckpt, path, model);
    cr_expect_eq(rc, 0, "export -o a link to /dev/stdout did not stream the model alone through the pipe");
    cr_expect(is_link(path), "the link to /dev/stdout was replaced");

    /* links to a regular file, and to none yet: the links stay, the files
     * they lead to get the model */
    const char *links[][2] = {{"latest.onnx", "models/v1.onnx"}, {"next.onnx", "models/v2.onnx"}};
    snprintf(path, sizeof path, "%s/models", tmp);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/models/v1.onnx", tmp);
    write_text(path, "the old model\n");
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", tmp, links[k][0]);
        snprintf(target, sizeof target, "%s/%s", tmp, links[k][1]);
        cr_assert_eq(symlink(links[k][1], path), 0);
        export_to(&p, cfg, ckpt, path);
        cr_expect_eq(p.status, 0, "%s", p.err);
        proc_free(&p);
        cr_expect(is_link(path), "%s: the link was replaced by a file", links[k][0]);
        char *got = tg_slurp(target, &got_len);
        cr_expect(got && got_len == want_len && memcmp(got, want, want_len) == 0, "%s: not the model", links[k][1]);
        free(got);
    }
    free(want);
}

/* A file or link already at a temporary file's name is never opened: a
 * link planted at "<output>.tmp" does not make export or training write
 * through it, and nothing is left behind. */
Test(outputs, writers_never_write_through_a_file_at_their_temporary_name) {
    char cfg[128], ckpt[128], victim[128], path[256], dir[128];
    trained(cfg, sizeof cfg);
    snprintf(ckpt, sizeof ckpt, "%s/run/checkpoint.safetensors", tmp);
    snprintf(victim, sizeof victim, "%s/victim", tmp);
    write_text(victim, "precious\n");
    struct proc p;
    snprintf(path, sizeof path, "%s/model.onnx.tmp", tmp);
    cr_assert_eq(symlink(victim, path), 0);
    snprintf(path, sizeof path, "%s/model.onnx", tmp);
    export_to(&p, cfg, ckpt, path);
    cr_expect_eq(p.status, 0, "%s", p.err);
    proc_free(&p);
    snprintf(dir, sizeof dir, "%s/planted", tmp);
    cr_assert_eq(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors.tmp", dir);
    cr_assert_eq(symlink(victim, path), 0);
    run(&p, NULL, (const char *[]){"train", cfg, "--run-dir", dir, "--threads", "1", "--quiet", NULL});
    cr_expect_eq(p.status, 0, "%s", p.err);
    proc_free(&p);
    char *text = tg_slurp(victim, NULL);
    cr_expect(text && strcmp(text, "precious\n") == 0, "written through a planted link");
    free(text);
    /* only the planted links have ".tmp" in their names */
    const char *dirs[] = {tmp, dir};
    for (int d = 0; d < 2; d++) {
        DIR *dd = opendir(dirs[d]);
        cr_assert_not_null(dd);
        for (struct dirent *e; (e = readdir(dd));)
            cr_expect(!strstr(e->d_name, ".tmp") || strstr(e->d_name, ".tmp") == e->d_name + strlen(e->d_name) - 4,
                      "%s/%s left behind", dirs[d], e->d_name);
        closedir(dd);
    }
}

/* ---- a full disk ---------------------------------------------------------- */

