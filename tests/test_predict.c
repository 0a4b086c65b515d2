/* eval and predict through the real binary on real MNIST: test images
 * written out as PNG (every form libpng writes) and PGM, predicted as eval
 * predicts them, and the numpy example's agreement with graphrun's
 * probabilities; images predict cannot use. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <png.h>
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

static void make_tmp(void) { tg_tmpdir(tmp, sizeof tmp, "predict"); }

static void remove_tmp(void) { tg_rmtree(tmp); }

TestSuite(predict, .init = make_tmp, .fini = remove_tmp, .timeout = 300);

#define short_run(steps, extra) tg_short_run(tmp, steps, extra)

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

Test(predict, predict_on_written_images_agrees_with_eval_and_the_numpy_example) {
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
    size_t n_bytes;
    uint8_t *images = tg_read_array(tg_mnist("t10k-images-idx3-ubyte"), &n_bytes);
    static char files[(N_PNG + N_PGM) * 64];
    size_t used = 0;
    for (int i = 0; i < N_PNG + N_PGM; i++) {
        snprintf(path, sizeof path, "%s/%05d.%s", tmp, i, i < N_PNG ? "png" : "pgm");
        const uint8_t *px = images + (size_t)i * 784;
        if (i < N_PNG) write_png(path, px, 28, 28);
        else write_pgm(path, px, 28, 28);
        used += (size_t)snprintf(files + used, sizeof files - used, " '%s'", path);
    }
    free(images);

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

Test(predict, predict_reads_every_png_form_as_its_plain_gray_image) {
    free(short_run(30, "--quiet"));
    size_t n_bytes;
    uint8_t *images = tg_read_array(tg_mnist("t10k-images-idx3-ubyte"), &n_bytes);
    enum { N = 4 };
    static char files[N * (N_FORMS + 1) * 64];
    size_t used = 0;
    char path[256];
    for (int i = 0; i < N; i++) {
        const uint8_t *px = images + (size_t)i * 784;
        snprintf(path, sizeof path, "%s/plain%d.png", tmp, i);
        write_png(path, px, 28, 28);
        used += (size_t)snprintf(files + used, sizeof files - used, " '%s'", path);
        for (int k = 0; k < N_FORMS; k++) {
            snprintf(path, sizeof path, "%s/form%d-%d.png", tmp, i, k);
            write_png_form(path, px, 28, 28, (enum png_form)k);
            used += (size_t)snprintf(files + used, sizeof files - used, " '%s'", path);
        }
    }
    free(images);
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

/* An image input of [H, W, 1], as conv2d reads images, takes H x W files:
 * the reference model read through [28, 28, 1] (its reshape to [28, 28]
 * then) classifies a digit as it does through [784]. */
Test(predict, predict_reads_images_for_an_input_with_one_channel) {
    free(short_run(10, "--quiet"));
    size_t n_bytes;
    uint8_t *images = tg_read_array(tg_mnist("t10k-images-idx3-ubyte"), &n_bytes);
    char path[256], *outs[2];
    snprintf(path, sizeof path, "%s/digit.pgm", tmp);
    write_pgm(path, images, 28, 28);
    free(images);
    const char *shapes[2] = {"", "--set 'graph.image.shape=[28, 28, 1]'"};
    for (int k = 0; k < 2; k++) {
        int rc = tg_sh(&outs[k], "'%s' predict '%s' %s --checkpoint '%s/run/checkpoint.safetensors' --json '%s' 2>&1",
                       GRAPHRUN, CONFIG, shapes[k], tmp, path);
        cr_expect_eq(rc, 0, "%s: %s", shapes[k], outs[k]);
    }
    cr_expect(strstr(outs[0], "\"probabilities\"") && strcmp(outs[0], outs[1]) == 0, "[784]:\n%s\n[28, 28, 1]:\n%s",
              outs[0], outs[1]);
    free(outs[0]), free(outs[1]);
}

Test(predict, predict_refuses_images_it_cannot_use) {
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
    /* whole image data, but the file cut before its last chunk (IEND) */
    snprintf(path, sizeof path, "%s/cut.png", tmp);
    write_png(path, px, 28, 28);
    size_t n = 0;
    char *bytes = tg_slurp(path, &n);
    cr_assert(bytes && n > 12);
    f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(bytes, 1, n - 12, f), n - 12);
    fclose(f);
    free(bytes);
    rc = tg_sh(&out, "'%s' predict '%s' --checkpoint '%s/run/checkpoint.safetensors' '%s' 2>&1", GRAPHRUN, CONFIG, tmp,
               path);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "cut.png: not a readable PNG file"), "%s", out);
    free(out);
}

/* Logits that are not finite (a finite input that overflows: 3e38 squared)
 * give a sample no class: it is never a hit, even where the label is
 * class 0, which an argmax over NaN used to pick; training's lines and eval
 * count them, and --predictions leaves their class empty. */
Test(predict, samples_whose_logits_are_not_finite_have_no_class) {
    char path[256], cfg[256], *out;
    const char *src[2] = {GR_SOURCE_DIR "/configs/data/spirals-train.csv", GR_SOURCE_DIR "/configs/data/spirals-test.csv"};
    const char *dst[2] = {"tr.csv", "te.csv"};
    for (int k = 0; k < 2; k++) {
        char *text = tg_slurp(src[k], NULL);
        cr_assert_not_null(text, "%s", src[k]);
        if (k == 1) { /* test sample 1 (the file's third line): huge, class 0 */
            char *l3 = strchr(strchr(text, '\n') + 1, '\n') + 1, *end = strchr(l3, '\n');
            char *edited = malloc(strlen(text) + 32);
            sprintf(edited, "%.*s3e38,3e38,0%s", (int)(l3 - text), text, end);
            free(text);
            text = edited;
        }
        snprintf(path, sizeof path, "%s/%s", tmp, dst[k]);
        tg_write_text(path, text);
        free(text);
    }
    snprintf(cfg, sizeof cfg, "%s/huge.yaml", tmp);
    tg_write_text(cfg, "data:\n  train: {file: tr.csv, csv: {label: label}}\n  test: {file: te.csv, csv: {label: label}}\n"
                       "graph:\n  - {name: xy, op: input, data: features, shape: [2]}\n"
                       "  - {name: label, op: input, data: labels}\n"
                       "  - {name: sq, op: mul, inputs: [xy, xy]}\n" /* 3e38 squared: infinity */
                       "  - {op: dense, inputs: [sq], units: 64, activation: relu}\n"
                       "  - {name: logits, op: dense, units: 2}\n"
                       "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n"
                       "train: {loss: loss, optimizer: {name: adam, lr: 0.01}, batch_size: 32, steps: 20, seed: 1}\n"
                       "eval: {logits: logits, every: 10, samples: 1000}\n");
    int rc = tg_sh(&out, "'%s' train '%s' --run-dir '%s/huge' --threads 1 2>&1", GRAPHRUN, cfg, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "test accuracy: ") && strstr(out, " (1 with logits not finite, counted as wrong)\n"), "%s", out);
    cr_expect(strstr(out, "test accuracy (all 1000 test samples): ") &&
                  strstr(strstr(out, "test accuracy (all"), " (1 with logits not finite, counted as wrong)\n"),
              "%s", out);
    free(out);
    rc = tg_sh(&out, "'%s' eval '%s' --checkpoint '%s/huge/checkpoint.safetensors' --predictions '%s/p.csv' 2>&1",
               GRAPHRUN, cfg, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    snprintf(path, sizeof path, "%s/p.csv", tmp);
    char *rows = tg_slurp(path, NULL);
    cr_assert_not_null(rows);
    cr_expect(strstr(rows, "\n1,0,,\n"), "sample 1 has a class: %.80s", rows);
    /* the hits eval counts are the rows whose class is their label */
    long hits = 0, i, label, pred;
    for (char *line = strchr(rows, '\n') + 1; *line; line = strchr(line, '\n') + 1)
        if (sscanf(line, "%ld,%ld,%ld,", &i, &label, &pred) == 3) hits += label == pred;
    char want[128];
    snprintf(want, sizeof want, " (%ld of 1000 test samples; 1 with logits not finite, no class, counted as wrong)",
             hits);
    cr_expect(strstr(out, want), "want '%s' in:\n%s", want, out);
    cr_expect(strstr(out, "     0     1  none\n"), "no column of samples without a class:\n%s", out);
    free(rows);
    free(out);
}
