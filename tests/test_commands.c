/* The everyday commands through the real binary on real MNIST: overrides,
 * run folders (effective config, metrics, checkpoint, plot), progress on a
 * terminal and in a pipe, --quiet, summary and graph. (eval and predict:
 * tests/test_predict.c.) */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define GRAPHRUN GR_BUILD_DIR "/graphrun"
#define CONFIG GR_SOURCE_DIR "/configs/lstm_mnist.yaml"

static char tmp[64];

static void make_tmp(void) { tg_tmpdir(tmp, sizeof tmp, "commands"); }

static void remove_tmp(void) { tg_rmtree(tmp); }

TestSuite(commands, .init = make_tmp, .fini = remove_tmp, .timeout = 300);

#define short_run(steps, extra) tg_short_run(tmp, steps, extra)

Test(commands, a_run_folder_holds_the_effective_config_metrics_checkpoint_and_plot) {
    char *out = short_run(200, "");
    char path[256];
    /* printed: the effective config with the override, the folder, and no
     * carriage returns in a pipe */
    cr_expect(strstr(out, "effective config (" CONFIG ", 3 overrides):"), "%s", out);
    cr_expect(strstr(out, "  |   steps: 200\n"), "%s", out);
    snprintf(path, sizeof path, "run folder: %s/run (", tmp);
    cr_expect(strstr(out, path), "%s", out);
    cr_expect_null(strchr(out, '\r'), "a progress bar was drawn into a pipe");
    const char *final = strstr(out, "test accuracy (all 10000 test images): ");
    cr_assert_not_null(final, "%s", out);
    double final_acc = atof(final + strlen("test accuracy (all 10000 test images): "));

    /* config.yaml: the override applied, paths absolute, and it still runs
     * from another folder */
    snprintf(path, sizeof path, "%s/run/config.yaml", tmp);
    char *cfg = tg_slurp(path, NULL);
    cr_assert_not_null(cfg, "no %s", path);
    cr_expect(strstr(cfg, "# the effective config of this run: " CONFIG " with --set train.steps=200"), "%s", cfg);
    cr_expect(strstr(cfg, "  steps: 200\n"), "%s", cfg);
    cr_expect(strstr(cfg, "images: /"), "%s", cfg);
    free(cfg);
    char *ev;
    int rc = tg_sh(&ev, "cd / && '%s' eval '%s/run/config.yaml' --checkpoint '%s/run/checkpoint.safetensors' 2>&1",
                GRAPHRUN, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", ev);
    const char *acc = strstr(ev, "accuracy: ");
    cr_assert_not_null(acc, "%s", ev);
    cr_expect_float_eq(atof(acc + strlen("accuracy: ")), final_acc, 1e-9, "eval %s vs the run's %.4f", acc, final_acc);
    free(ev);

    /* metrics.csv: a row every 10 steps, accuracy at the evals */
    snprintf(path, sizeof path, "%s/run/metrics.csv", tmp);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no %s", path);
    char line[512];
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_expect_str_eq(line, "step,epoch,loss,eval_accuracy,eval_loss,lr,grad_norm,wall_time\n");
    int rows = 0, evals = 0;
    double last_wall = 0, first_loss = 0, last_loss = 0;
    long steps[32];
    double losses[32];
    while (fgets(line, sizeof line, f) && rows < 32) {
        /* eight fields; the evaluation's two empty except at evaluations */
        char *field[8], *p = line;
        int n = 0;
        for (; n < 8 && p; n++) {
            field[n] = p;
            p = strchr(p, ',');
            if (p) *p++ = 0;
        }
        cr_assert(n == 8 && !p, "bad row: %s", line);
        long step = atol(field[0]);
        double epoch = atof(field[1]), loss = atof(field[2]), lr = atof(field[5]), norm = atof(field[6]);
        double wall = atof(field[7]);
        cr_expect_eq(step, 10 * (rows + 1), "%s", line);
        cr_expect_float_eq(epoch, (double)step * 64 / 60000, 1e-5, "%s", line);
        cr_expect(isfinite(loss) && loss > 0 && loss < 5, "%s", line);
        cr_expect_float_eq(lr, 0.01, 1e-12, "%s", line);
        cr_expect(isfinite(norm) && norm > 0, "step %ld: a gradient norm: %s", step, field[6]);
        cr_expect_geq(wall, last_wall, "%s", line);
        if (step % 100 == 0) {
            double accv = atof(field[3]), eval_loss = atof(field[4]);
            cr_expect(accv > 0.3 && accv <= 1, "step %ld should carry an accuracy: %s", step, field[3]);
            cr_expect(eval_loss > 0 && eval_loss < 5, "step %ld should carry an eval loss: %s", step, field[4]);
            evals++;
        } else {
            cr_expect(!field[3][0] && !field[4][0], "no eval at step %ld", step);
        }
        last_wall = wall;
        if (!rows) first_loss = loss;
        last_loss = loss;
        steps[rows] = step;
        losses[rows] = loss;
        rows++;
    }
    fclose(f);
    cr_expect_eq(rows, 20);
    cr_expect_eq(evals, 2);
    cr_expect_lt(last_loss, first_loss * 0.5, "the loss should fall: %g -> %g", first_loss, last_loss);

    /* metrics.jsonl: the same rows as JSON */
    snprintf(path, sizeof path, "%s/run/metrics.jsonl", tmp);
    f = fopen(path, "r");
    cr_assert_not_null(f, "no %s", path);
    int jrows = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *row = json_loads(line, 0, &jerr);
        cr_assert_not_null(row, "line %d: %s", jrows + 1, jerr.text);
        cr_assert_lt(jrows, rows);
        cr_expect_eq(json_integer_value(json_object_get(row, "step")), steps[jrows]);
        cr_expect_float_eq(json_real_value(json_object_get(row, "loss")), losses[jrows], 1e-9);
        json_t *a = json_object_get(row, "eval_accuracy"), *el = json_object_get(row, "eval_loss");
        cr_expect(steps[jrows] % 100 == 0 ? json_is_real(a) && json_is_real(el) : json_is_null(a) && json_is_null(el),
                  "%s", line);
        cr_expect(json_is_number(json_object_get(row, "lr")) && json_is_number(json_object_get(row, "epoch")) &&
                      json_is_number(json_object_get(row, "grad_norm")) &&
                      json_is_number(json_object_get(row, "wall_time")),
                  "%s", line);
        json_decref(row);
        jrows++;
    }
    fclose(f);
    cr_expect_eq(jrows, rows);

    /* the checkpoint and the plot */
    struct stat st;
    snprintf(path, sizeof path, "%s/run/checkpoint.safetensors", tmp);
    cr_expect_eq(stat(path, &st), 0, "no %s", path);
    snprintf(path, sizeof path, "%s/run/plot.png", tmp);
    size_t len;
    char *png = tg_slurp(path, &len);
    cr_assert_not_null(png, "no %s", path);
    cr_expect(len > 5000 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0, "%s is not a PNG (%zu bytes)", path, len);
    free(png);
    /* plot redraws it */
    unlink(path);
    char *po;
    cr_expect_eq(tg_sh(&po, "'%s' plot '%s/run' 2>&1", GRAPHRUN, tmp), 0);
    free(po);
    cr_expect_eq(stat(path, &st), 0, "graphrun plot did not redraw %s", path);
    free(out);
}

Test(commands, quiet_prints_only_the_result) {
    char *out = short_run(100, "--quiet");
    int lines = 0;
    for (const char *p = out; *p; p++) lines += *p == '\n';
    cr_expect_eq(lines, 3, "%s", out);
    cr_expect(strncmp(out, "test accuracy (all 10000 test images): ", strlen("test accuracy (all 10000 test images): ")) == 0, "%s", out);
    cr_expect(strstr(out, "\nwall time: ") && strstr(out, "\nrun folder: "), "%s", out);
    free(out);
}

/* On a terminal the progress line is redrawn in place: carriage returns,
 * steps per second and the time left. */
Test(commands, progress_is_drawn_in_place_on_a_terminal) {
    int master;
    fflush(NULL);
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        execl(GRAPHRUN, GRAPHRUN, "train", CONFIG, "--set", "train.steps=150", "--no-run-dir", "--threads", "1",
              (char *)NULL);
        _exit(127);
    }
    static char buf[1 << 16];
    size_t len = 0;
    ssize_t got;
    while (len < sizeof buf - 1 && (got = read(master, buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)got;
    buf[len] = 0;
    close(master);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", buf);
    cr_expect(strstr(buf, "\r\033[K["), "no bar redrawn in place:\n%s", buf);
    cr_expect(strstr(buf, "step 150/150"), "%s", buf);
    cr_expect(strstr(buf, " steps/s ") && strstr(buf, " eta "), "%s", buf);
    /* the eval lines still come out whole */
    cr_expect(strstr(buf, "train loss: ") && strstr(buf, " | test accuracy: "), "%s", buf);
}

/* "24,458" */
static void thousands(char *out, size_t len, long v) {
    char digits[32];
    snprintf(digits, sizeof digits, "%ld", v);
    size_t n = strlen(digits), o = 0;
    for (size_t i = 0; i < n && o + 2 < len; i++) {
        if (i && (n - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = 0;
}

Test(commands, summary_counts_parameters_and_follows_overrides) {
    long units[2] = {64, 128};
    for (int k = 0; k < 2; k++) {
        char *out;
        int rc = tg_sh(&out, "'%s' summary '%s' --set graph.lstm.num_units=%ld 2>&1", GRAPHRUN, CONFIG, units[k]);
        cr_assert_eq(rc, 0, "%s", out);
        /* lstm kernel [28 + H, 4H] and bias [4H]; dense [H, 10] and [10] */
        long h = units[k], lstm = (28 + h) * 4 * h + 4 * h, dense = h * 10 + 10;
        char want[64], num[32];
        thousands(num, sizeof num, lstm);
        snprintf(want, sizeof want, "[28, %ld]", h);
        cr_expect(strstr(out, want), "no lstm output shape %s:\n%s", want, out);
        cr_expect(strstr(out, num), "no lstm parameter count %s:\n%s", num, out);
        thousands(num, sizeof num, lstm + dense);
        const char *total = strstr(out, "\ntotal ");
        cr_assert_not_null(total, "%s", out);
        cr_expect(strstr(total, num), "total should be %s:\n%s", num, out);
        cr_expect(strstr(out, "training plan") && strstr(out, "evaluation plan"), "no planned memory:\n%s", out);
        free(out);
    }
}

Test(commands, graph_writes_dot_that_graphviz_renders) {
    char *out;
    int rc = tg_sh(&out, "'%s' graph '%s' -o '%s/g.dot' 2>&1 && dot -Tsvg '%s/g.dot' -o '%s/g.svg' 2>&1", GRAPHRUN,
                CONFIG, tmp, tmp, tmp);
    cr_expect_eq(rc, 0, "%s", out);
    free(out);
    char path[128];
    snprintf(path, sizeof path, "%s/g.dot", tmp);
    char *dot = tg_slurp(path, NULL);
    cr_assert_not_null(dot);
    cr_expect(strstr(dot, "\"lstm.kernel\" -> \"lstm\"") && strstr(dot, "\"logits\" -> \"loss\""), "%s", dot);
    cr_expect_null(strstr(dot, "d lstm.kernel"), "backward drawn without --backward");
    free(dot);
    snprintf(path, sizeof path, "%s/g.svg", tmp);
    char *svg = tg_slurp(path, NULL);
    cr_assert_not_null(svg);
    cr_expect(strstr(svg, "<svg") && strstr(svg, "softmax_cross_entropy"), "dot rendered no graph");
    free(svg);
    rc = tg_sh(&out, "'%s' graph '%s' --backward | dot -Tsvg", GRAPHRUN, CONFIG);
    cr_expect_eq(rc, 0);
    cr_expect(strstr(out, "d lstm.kernel") && strstr(out, "d logits.bias"), "no gradient nodes");
    free(out);
}

/* An 8-bit gray PNG through libpng (its own choice of row filters). */

/* The noise column of node `node` in gradcheck's table. */
static double gradcheck_noise(const char *out, const char *node) {
    char needle[64];
    snprintf(needle, sizeof needle, "\n%-20s ", node);
    const char *line = strstr(out, needle);
    cr_assert_not_null(line, "no row for %s in:\n%s", node, out);
    double elements, worst, noise;
    char op[64];
    cr_assert_eq(sscanf(line + strlen(needle), "%63s %lf %lf %lf", op, &elements, &worst, &noise), 4, "%s", line);
    return noise;
}

/* --eps sets the step, --tolerance and --atol the bound: the small LSTM
 * passes at the defaults, fails when the bound is tighter than the finite
 * differences' own error at h = 1e-2, and a step ten times smaller shows
 * ten times the rounding noise. */
Test(commands, gradcheck_takes_its_step_and_tolerances_from_the_command_line) {
    char *out;
    const char *ok = GR_SOURCE_DIR "/tests/bad/configs/ok.yaml";
    cr_expect_eq(tg_sh(&out, "'%s' gradcheck '%s' 2>&1", GRAPHRUN, ok), 0, "%s", out);
    cr_expect(strstr(out, "5 nodes checked, 0 failed"), "%s", out);
    double noise = gradcheck_noise(out, "rows");
    free(out);
    cr_expect_eq(tg_sh(&out, "'%s' gradcheck '%s' --tolerance 1e-5 --atol 1e-7 2>&1", GRAPHRUN, ok), 1, "%s", out);
    cr_expect(strstr(out, "FAIL") && strstr(out, "1 failed"), "%s", out);
    free(out);
    cr_expect_eq(tg_sh(&out, "'%s' gradcheck '%s' --eps 1e-3 2>&1", GRAPHRUN, ok), 0, "%s", out);
    double ratio = gradcheck_noise(out, "rows") / noise;
    cr_expect(ratio > 9 && ratio < 11, "noise %g at eps 1e-3, %g at 1e-2", gradcheck_noise(out, "rows"), noise);
    free(out);
    cr_expect_eq(tg_sh(&out, "'%s' gradcheck '%s' --eps 0 2>&1", GRAPHRUN, ok), 2, "%s", out);
    cr_expect(strstr(out, "graphrun gradcheck: --eps: expected a number in [1e-12, 1], got '0'"), "%s", out);
    free(out);
}

/* The printed config shows a path under the current folder relative to it
 * (as the user would type it) and any other path whole; the run folder's
 * config.yaml keeps every path absolute. */
Test(commands, printed_paths_under_the_current_folder_are_relative_to_it) {
    char *out;
    int rc = tg_sh(&out, "cd '%s' && '%s' train configs/lstm_mnist.yaml --no-run-dir --set train.steps=1 2>&1",
                   GR_SOURCE_DIR, GRAPHRUN);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "  |   train: {images: data/mnist/train-images-idx3-ubyte, labels: data/mnist/"), "%s", out);
    cr_expect_null(strstr(out, GR_SOURCE_DIR "/data"), "%s", out);
    free(out);
    rc = tg_sh(&out, "cd / && '%s' train '%s' --no-run-dir --set train.steps=1 2>&1", GRAPHRUN, CONFIG);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "images: " GR_SOURCE_DIR "/"), "%s", out);
    free(out);
}

/* An argument a usage error quotes is shown escaped, as a config value is:
 * a newline in it cannot split the message or forge a second line. */
Test(commands, arguments_quoted_in_usage_errors_stay_on_one_line) {
    static const char *const cases[][5] = {
        {"schedules", "a\nb", NULL, NULL, "graphrun schedules: no schedule 'a\\nb'"},
        {"ops", "lst\tm", NULL, NULL, "graphrun ops: no op 'lst\\tm' (did you mean 'lstm'?)"},
        {"tra\nin", NULL, NULL, NULL, "graphrun: unknown command 'tra\\nin' (did you mean 'train'?)"},
        {"train", CONFIG, "--threads", "2\n", "graphrun train: --threads: expected an integer in [0, 64], got '2\\n'"},
        {"train", CONFIG, "--bo\nb", NULL, "graphrun train: unknown option '--bo\\nb' (see graphrun train --help)"},
        {"check", CONFIG, "c\nd", NULL, "graphrun check: unexpected argument 'c\\nd' (see graphrun check --help)"},
        {"check", CONFIG, "--set", "--unset a\nb", "graphrun check: --set --unset a\\nb: expected PATH=VALUE"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct tg_proc p;
        tg_run(tmp, &p, NULL, (const char *const[]){cases[k][0], cases[k][1], cases[k][2], cases[k][3], NULL});
        size_t n = p.err ? strlen(p.err) : 0;
        cr_expect_eq(p.status, k < 2 ? 1 : 2, "case %zu: exit status %d", k, p.status);
        cr_expect(n && tg_count_lines(p.err) == 1 && p.err[n - 1] == '\n', "case %zu: not one line: %s", k, p.err);
        cr_expect(n && strstr(p.err, cases[k][4]), "case %zu: expected '%s' in: %s", k, cases[k][4], p.err);
        tg_proc_free(&p);
    }
}
