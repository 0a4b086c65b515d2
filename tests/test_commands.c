/* The everyday commands through the real binary on real MNIST: overrides,
 * run folders (effective config, metrics, checkpoint, plot), progress on a
 * terminal and in a pipe, --quiet, summary, graph, eval and predict on test
 * images written out as PNG and PGM, and the numpy example's agreement with
 * graphrun's probabilities. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <png.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "runtime/data/idx.h"

#define GRAPHRUN GR_BUILD_DIR "/graphrun"
#define CONFIG GR_SOURCE_DIR "/configs/lstm_mnist.yaml"

static char tmp[64];

static void make_tmp(void) { tg_tmpdir(tmp, sizeof tmp, "commands"); }

static void remove_tmp(void) { tg_rmtree(tmp); }

TestSuite(commands, .init = make_tmp, .fini = remove_tmp, .timeout = 300);

/* A short run of the default config into tmp/run; returns its stdout. One
 * thread: Criterion runs two tests at once on our two cores. */
static char *short_run(int steps, const char *extra) {
    char *out;
    int rc = tg_sh(&out,
                "'%s' train '%s' --set train.steps=%d --set eval.every=100 --set train.checkpoint.every=100 "
                "--run-dir '%s/run' --threads 1 %s 2>&1",
                GRAPHRUN, CONFIG, steps, tmp, extra);
    cr_assert_eq(rc, 0, "the run failed:\n%s", out);
    return out;
}

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
    cr_expect_str_eq(line, "step,epoch,loss,eval_accuracy,lr,wall_time\n");
    int rows = 0, evals = 0;
    double last_wall = 0, first_loss = 0, last_loss = 0;
    long steps[32];
    double losses[32];
    while (fgets(line, sizeof line, f) && rows < 32) {
        long step;
        double epoch, loss, lr, wall, accv = -1;
        char accs[32] = "";
        int n = sscanf(line, "%ld,%lf,%lf,%31[^,],%lf,%lf", &step, &epoch, &loss, accs, &lr, &wall);
        if (n != 6) n = sscanf(line, "%ld,%lf,%lf,,%lf,%lf", &step, &epoch, &loss, &lr, &wall) + 1;
        else accv = atof(accs);
        cr_assert_eq(n, 6, "bad row: %s", line);
        cr_expect_eq(step, 10 * (rows + 1), "%s", line);
        cr_expect_float_eq(epoch, (double)step * 64 / 60000, 1e-5, "%s", line);
        cr_expect(isfinite(loss) && loss > 0 && loss < 5, "%s", line);
        cr_expect_float_eq(lr, 0.01, 1e-12, "%s", line);
        cr_expect_geq(wall, last_wall, "%s", line);
        if (step % 100 == 0) {
            cr_expect(accv > 0.3 && accv <= 1, "step %ld should carry an accuracy: %s", step, line);
            evals++;
        } else {
            cr_expect_eq(accv, -1, "no eval at step %ld: %s", step, line);
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
        json_t *a = json_object_get(row, "eval_accuracy");
        cr_expect(steps[jrows] % 100 == 0 ? json_is_real(a) : json_is_null(a), "%s", line);
        cr_expect(json_is_number(json_object_get(row, "lr")) && json_is_number(json_object_get(row, "epoch")) &&
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
static void write_png(const char *path, const uint8_t *px, int w, int h) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    cr_assert(png && info);
    cr_assert_eq(setjmp(png_jmpbuf(png)), 0, "libpng failed on %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, px + (size_t)y * (size_t)w);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

static void write_pgm(const char *path, const uint8_t *px, int w, int h) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fprintf(f, "P5\n# a test image\n%d %d\n255\n", w, h);
    fwrite(px, 1, (size_t)(w * h), f);
    fclose(f);
}

/* graphrun predict --json over `files`: the parsed array. */
static json_t *predict_json(const char *files) {
    char *out;
    int rc = tg_sh(&out, "'%s' predict '%s' --checkpoint '%s/run/checkpoint.safetensors' --json %s", GRAPHRUN, CONFIG, tmp,
                files);
    cr_assert_eq(rc, 0, "predict failed: %s", out);
    json_error_t jerr;
    json_t *arr = json_loads(out, 0, &jerr);
    cr_assert(json_is_array(arr), "predict --json: %s at line %d", jerr.text, jerr.line);
    free(out);
    return arr;
}

#define N_PNG 100
#define N_PGM 20

Test(commands, predict_on_written_images_agrees_with_eval_and_the_numpy_example) {
    free(short_run(300, "--quiet"));
    /* eval's prediction for every test image */
    char *out;
    int rc = tg_sh(&out, "'%s' eval '%s' --checkpoint '%s/run/checkpoint.safetensors' --predictions '%s/pred.csv' 2>&1",
                GRAPHRUN, CONFIG, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char path[256];
    snprintf(path, sizeof path, "%s/pred.csv", tmp);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char line[256];
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_expect_str_eq(line, "index,label,predicted,probability\n");
    int eval_class[N_PNG + N_PGM];
    double eval_prob[N_PNG + N_PGM];
    for (int i = 0; i < N_PNG + N_PGM; i++) {
        int idx, label;
        cr_assert_not_null(fgets(line, sizeof line, f));
        cr_assert_eq(sscanf(line, "%d,%d,%d,%lf", &idx, &label, &eval_class[i], &eval_prob[i]), 4, "%s", line);
        cr_assert_eq(idx, i);
    }
    fclose(f);

    /* the first test images as PNG (libpng) and the next ones as PGM */
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_idx images;
    cr_assert_eq(gr_idx_load(&ctx, tg_mnist("t10k-images-idx3-ubyte"), &images), 0, "%s", ctx.err);
    static char files[(N_PNG + N_PGM) * 64];
    size_t used = 0;
    for (int i = 0; i < N_PNG + N_PGM; i++) {
        snprintf(path, sizeof path, "%s/%05d.%s", tmp, i, i < N_PNG ? "png" : "pgm");
        const uint8_t *px = images.data + (size_t)i * 784;
        if (i < N_PNG) write_png(path, px, 28, 28);
        else write_pgm(path, px, 28, 28);
        used += (size_t)snprintf(files + used, sizeof files - used, " '%s'", path);
    }
    gr_idx_free(&ctx, &images);
    gr_ctx_free(&ctx);

    /* predict gives eval's class and probability for every one */
    json_t *arr = predict_json(files);
    cr_assert_eq(json_array_size(arr), N_PNG + N_PGM);
    int same = 0;
    for (int i = 0; i < N_PNG + N_PGM; i++) {
        json_t *row = json_array_get(arr, (size_t)i);
        int cls = (int)json_integer_value(json_object_get(row, "class"));
        json_t *probs = json_object_get(row, "probabilities");
        cr_assert_eq(json_array_size(probs), 10);
        double p = json_number_value(json_array_get(probs, (size_t)cls)), sum = 0;
        for (size_t k = 0; k < 10; k++) sum += json_number_value(json_array_get(probs, k));
        cr_expect_float_eq(sum, 1.0, 1e-5, "image %d: probabilities sum to %g", i, sum);
        cr_expect_eq(cls, eval_class[i], "image %d: predict says %d, eval %d", i, cls, eval_class[i]);
        cr_expect_float_eq(p, eval_prob[i], 1e-6, "image %d: predict %.7f, eval %.6f", i, p, eval_prob[i]);
        same += cls == eval_class[i];
    }
    cr_log_info("predict agreed with eval on %d of %d images", same, N_PNG + N_PGM);

    /* the numpy example reproduces every probability to 1e-5 (PNG with
     * libpng's filters, and PGM) */
    double worst = 0;
    for (int i = 0; i < N_PNG + N_PGM; i += 10) {
        char *py;
        rc = tg_sh(&py, "/usr/bin/python3 '%s/tools/predict_numpy.py' '%s/run/checkpoint.safetensors' '%s/%05d.%s' --json",
                GR_SOURCE_DIR, tmp, tmp, i, i < N_PNG ? "png" : "pgm");
        cr_assert_eq(rc, 0, "predict_numpy.py failed: %s", py);
        json_error_t jerr;
        json_t *mine = json_loads(py, 0, &jerr);
        cr_assert_not_null(mine, "%s: %s", jerr.text, py);
        json_t *ours = json_object_get(json_array_get(arr, (size_t)i), "probabilities");
        json_t *theirs = json_object_get(mine, "probabilities");
        cr_assert_eq(json_array_size(theirs), 10);
        for (size_t k = 0; k < 10; k++) {
            double a = json_number_value(json_array_get(ours, k)), b = json_number_value(json_array_get(theirs, k));
            cr_expect_leq(fabs(a - b), 1e-5, "image %d class %zu: graphrun %.8g, numpy %.8g", i, k, a, b);
            if (fabs(a - b) > worst) worst = fabs(a - b);
        }
        json_decref(mine);
        free(py);
    }
    cr_log_info("numpy example: largest difference %.3g", worst);

    /* tools/idx_to_png.py writes the same pixels (through all five PNG row
     * filters): the same probabilities */
    rc = tg_sh(&out, "/usr/bin/python3 '%s/tools/idx_to_png.py' '%s' '%s/py' 0 10 2>&1", GR_SOURCE_DIR,
            tg_mnist("t10k-images-idx3-ubyte"), tmp);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    used = 0;
    for (int i = 0; i < 10; i++) used += (size_t)snprintf(files + used, sizeof files - used, " '%s/py/%05d.png'", tmp, i);
    json_t *again = predict_json(files);
    for (int i = 0; i < 10; i++) {
        json_t *a = json_object_get(json_array_get(arr, (size_t)i), "probabilities");
        json_t *b = json_object_get(json_array_get(again, (size_t)i), "probabilities");
        for (size_t k = 0; k < 10; k++)
            cr_expect_eq(json_number_value(json_array_get(a, k)), json_number_value(json_array_get(b, k)),
                         "image %d class %zu differs between the two PNG writers", i, k);
    }
    json_decref(again);
    json_decref(arr);
}

/* The same pixels in other PNG forms, each decoding (over black) to them. */
enum png_form { FORM_PALETTE_TRNS, FORM_GRAY_ALPHA, FORM_GRAY16, FORM_GRAY_ALPHA16, FORM_INTERLACED, FORM_RGB, N_FORMS };
static const char *const form_names[N_FORMS] = {"palette with tRNS", "gray+alpha", "16-bit gray", "16-bit gray+alpha",
                                                "interlaced", "RGB"};

static void write_png_form(const char *path, const uint8_t *px, int w, int h, enum png_form form) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    cr_assert(png && info);
    cr_assert_eq(setjmp(png_jmpbuf(png)), 0, "libpng failed on %s", path);
    png_init_io(png, f);
    static const int types[N_FORMS] = {PNG_COLOR_TYPE_PALETTE, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_GRAY,
                                       PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_RGB};
    static const int samples[N_FORMS] = {1, 2, 1, 2, 1, 3};
    int depth = form == FORM_GRAY16 || form == FORM_GRAY_ALPHA16 ? 16 : 8;
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, types[form],
                 form == FORM_INTERLACED ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (form == FORM_PALETTE_TRNS) {
        /* entry v is gray v; entry 0, the background, is transparent */
        png_color palette[256];
        png_byte alpha[256];
        for (int v = 0; v < 256; v++) {
            palette[v].red = palette[v].green = palette[v].blue = (png_byte)v;
            alpha[v] = v ? 255 : 0;
        }
        png_set_PLTE(png, info, palette, 256);
        png_set_tRNS(png, info, alpha, 256, NULL);
    }
    png_write_info(png, info);
    int bytes = samples[form] * depth / 8;
    uint8_t *buf = malloc((size_t)w * (size_t)h * (size_t)bytes);
    png_bytep *rows = malloc((size_t)h * sizeof *rows);
    cr_assert(buf && rows);
    for (int i = 0; i < w * h; i++) {
        uint8_t v = px[i], *o = buf + (size_t)i * (size_t)bytes;
        switch (form) {
        case FORM_PALETTE_TRNS:
        case FORM_INTERLACED: o[0] = v; break;
        case FORM_GRAY_ALPHA: o[0] = 255, o[1] = v; break; /* white ink, v opaque */
        case FORM_GRAY16: o[0] = o[1] = v; break;          /* v * 257, big-endian */
        case FORM_GRAY_ALPHA16: o[0] = o[1] = 255, o[2] = o[3] = v; break;
        case FORM_RGB: o[0] = o[1] = o[2] = v; break;
        default: cr_assert_fail("form %d", form);
        }
    }
    for (int y = 0; y < h; y++) rows[y] = buf + (size_t)y * (size_t)w * (size_t)bytes;
    png_write_image(png, rows); /* every Adam7 pass for the interlaced form */
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    free(rows);
    free(buf);
}

Test(commands, predict_reads_every_png_form_as_its_plain_gray_image) {
    free(short_run(30, "--quiet"));
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_idx images;
    cr_assert_eq(gr_idx_load(&ctx, tg_mnist("t10k-images-idx3-ubyte"), &images), 0, "%s", ctx.err);
    enum { N = 4 };
    static char files[N * (N_FORMS + 1) * 64];
    size_t used = 0;
    char path[256];
    for (int i = 0; i < N; i++) {
        const uint8_t *px = images.data + (size_t)i * 784;
        snprintf(path, sizeof path, "%s/plain%d.png", tmp, i);
        write_png(path, px, 28, 28);
        used += (size_t)snprintf(files + used, sizeof files - used, " '%s'", path);
        for (int k = 0; k < N_FORMS; k++) {
            snprintf(path, sizeof path, "%s/form%d-%d.png", tmp, i, k);
            write_png_form(path, px, 28, 28, (enum png_form)k);
            used += (size_t)snprintf(files + used, sizeof files - used, " '%s'", path);
        }
    }
    gr_idx_free(&ctx, &images);
    gr_ctx_free(&ctx);
    json_t *arr = predict_json(files);
    cr_assert_eq(json_array_size(arr), N * (N_FORMS + 1));
    for (int i = 0; i < N; i++) {
        json_t *plain = json_array_get(arr, (size_t)(i * (N_FORMS + 1)));
        for (int k = 0; k < N_FORMS; k++) {
            json_t *row = json_array_get(arr, (size_t)(i * (N_FORMS + 1) + 1 + k));
            cr_expect_eq(json_integer_value(json_object_get(row, "class")),
                         json_integer_value(json_object_get(plain, "class")), "image %d as %s", i, form_names[k]);
            for (size_t c = 0; c < 10; c++) {
                double a = json_number_value(json_array_get(json_object_get(plain, "probabilities"), c));
                double b = json_number_value(json_array_get(json_object_get(row, "probabilities"), c));
                cr_expect_eq(a, b, "image %d as %s: class %zu has %.8g, the plain image %.8g", i, form_names[k], c, b, a);
            }
        }
    }
    json_decref(arr);
}

Test(commands, predict_refuses_images_it_cannot_use) {
    free(short_run(10, "--quiet"));
    static const uint8_t px[30 * 28] = {0};
    char path[256], *out;
    snprintf(path, sizeof path, "%s/wide.pgm", tmp);
    write_pgm(path, px, 30, 28);
    int rc = tg_sh(&out, "'%s' predict '%s' --checkpoint '%s/run/checkpoint.safetensors' '%s' 2>&1", GRAPHRUN, CONFIG, tmp,
                path);
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "wide.pgm: 30x28 pixels, but the model reads 28x28 images"), "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/junk.png", tmp);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs("\x89PNG\r\n\x1a\nthis is not the rest of a PNG", f);
    fclose(f);
    rc = tg_sh(&out, "'%s' predict '%s' --checkpoint '%s/run/checkpoint.safetensors' '%s' 2>&1", GRAPHRUN, CONFIG, tmp,
            path);
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "junk.png: not a readable PNG file"), "%s", out);
    free(out);
}
