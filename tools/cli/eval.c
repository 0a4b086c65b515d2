/* graphrun eval and predict: a checkpoint's weights on the test set or on
 * image files, through the session's one evaluation path
 * (runtime/session/evaluate.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/escape.h"
#include "runtime/session/evaluate.h"
#include "tools/cli/cli.h"
#include "tools/images.h"

/* --predictions: one CSV row per test image (every field a number: nothing
 * to quote; a sample with no class, its logits not finite, has its
 * predicted class and probability empty). The first failed write's errno
 * is the one reported. */
static int write_predictions(const char *path, const struct gr_session *s, int64_t n, int64_t c, const int32_t *cls,
                             const float *probs) {
    FILE *pf = fopen(path, "w");
    if (!pf) {
        fprintf(stderr, "graphrun eval: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    int werr = fprintf(pf, "index,label,predicted,probability\n") < 0 ? cli_write_errno() : 0;
    for (int64_t i = 0; i < n && !werr; i++) {
        int64_t label = gr_session_label(s, &s->test_set, i);
        int w = cls[i] < 0 ? fprintf(pf, "%lld,%lld,,\n", (long long)i, (long long)label)
                           : fprintf(pf, "%lld,%lld,%lld,%.6f\n", (long long)i, (long long)label, (long long)cls[i],
                                     (double)probs[i * c + cls[i]]);
        if (w < 0) werr = cli_write_errno();
    }
    if (fclose(pf) != 0 && !werr) werr = cli_write_errno();
    if (werr) fprintf(stderr, "graphrun eval: %s: write failed: %s\n", path, strerror(werr));
    return werr ? -1 : 0;
}

/* Accuracy, each class's precision and recall, the confusion matrix:
 * conf [c][c + 1], by true class and predicted class, column c the
 * samples with no class (logits not finite), which count in their class's
 * support and recall, and as a column of their own when there are any. */
static void print_eval(const struct cli *o, const struct gr_session *s, int64_t ckpt_step, int64_t n, int64_t c,
                       const int64_t *conf, int64_t correct) {
    int64_t none = 0, w = c + 1;
    for (int64_t r = 0; r < c; r++) none += conf[r * w + c];
    printf("%s, checkpoint %s (step %lld)\n", o->pos[0], o->checkpoint, (long long)ckpt_step);
    printf("accuracy: %.4f (%lld of %lld test %s", (double)correct / (double)n, (long long)correct, (long long)n,
           cli_sample_noun(s->test_set.d));
    if (none) printf("; %lld with logits not finite, no class, counted as wrong", (long long)none);
    printf(")\n\n");
    printf("class  precision  recall  support\n");
    for (int64_t k = 0; k < c; k++) {
        int64_t tp = conf[k * w + k], pred = 0, truth = conf[k * w + c];
        for (int64_t r = 0; r < c; r++) {
            pred += conf[r * w + k];
            truth += conf[k * w + r];
        }
        printf("%5lld  %9.4f  %6.4f  %7lld\n", (long long)k, pred ? (double)tp / (double)pred : 0.0,
               truth ? (double)tp / (double)truth : 0.0, (long long)truth);
    }
    printf("\nconfusion matrix (rows: true class, columns: predicted)\n      ");
    for (int64_t k = 0; k < c; k++) printf("%6lld", (long long)k);
    printf(none ? "  none\n" : "\n");
    for (int64_t r = 0; r < c; r++) {
        printf("%6lld", (long long)r);
        for (int64_t k = 0; k < c + (none > 0); k++) printf("%6lld", (long long)conf[r * w + k]);
        printf("\n");
    }
}

static int cmd_eval(struct cli *o) {
    struct job j;
    if (cli_open_job(&j, o, 1)) return 1;
    struct gr_session *s = &j.s;
    int64_t n = s->test_set.n, c = s->g.nodes[s->logits].shape.dim[1], correct = 0;
    size_t n_probs = 0, n_conf = 0;
    int sizes_ok = !gr_mul_size((size_t)n, (size_t)c, &n_probs) && !gr_mul_size((size_t)c, (size_t)c + 1, &n_conf);
    float *probs = sizes_ok ? malloc(n_probs * sizeof *probs) : NULL;
    int32_t *cls = sizes_ok ? malloc((size_t)n * sizeof *cls) : NULL;
    int64_t *conf = sizes_ok ? calloc(n_conf, sizeof *conf) : NULL;
    int rc = 0;
    if (!probs || !cls || !conf || gr_session_classify(s, n, cls, probs, &correct)) {
        fprintf(stderr, "graphrun eval: %s\n", probs && cls && conf ? j.ctx.err : "out of memory");
        rc = 1;
    }
    if (rc == 0 && o->predictions && write_predictions(o->predictions, s, n, c, cls, probs)) rc = 1;
    if (rc == 0) {
        for (int64_t i = 0; i < n; i++) conf[gr_session_label(s, &s->test_set, i) * (c + 1) + (cls[i] < 0 ? c : cls[i])]++;
        print_eval(o, s, j.ckpt_step, n, c, conf, correct);
    }
    free(probs);
    free(cls);
    free(conf);
    cli_close_job(&j);
    return rc;
}

/* The images named on the command line, as the graph's image input reads
 * them: [..., H, W] or [H, W, 1] (one channel, as conv2d reads images)
 * exactly; a flat [N] a square image when N is a square, else any N
 * pixels. Into all (n x size bytes); prints the first error. [H, W, 3] or
 * [H, W, 4] (colour) is refused: the files are read as gray. */
static int read_images(const struct cli *o, const struct gr_shape *img, uint8_t *all) {
    int n = o->n_pos - 1;
    int64_t size = gr_shape_count(img), want_h = 0, want_w = 0, last = img->rank ? img->dim[img->rank - 1] : 0;
    if (img->rank == 3 && (last == 3 || last == 4)) {
        fprintf(stderr, "graphrun predict: the model reads colour images ([%lld, %lld, %lld]); predict reads images "
                        "as gray, one channel\n", (long long)img->dim[0], (long long)img->dim[1], (long long)last);
        return 1;
    }
    if (img->rank >= 3 && last == 1) {
        want_h = img->dim[img->rank - 3];
        want_w = img->dim[img->rank - 2];
    } else if (img->rank >= 2) {
        want_h = img->dim[img->rank - 2];
        want_w = img->dim[img->rank - 1];
    } else {
        int64_t side = llround(sqrt((double)size));
        if (side * side == size) want_h = want_w = side;
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        uint8_t *px = NULL;
        int w, h;
        char err[512];
        if (image_read_gray(o->pos[1 + i], &px, &w, &h, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            rc = 1;
        } else if ((int64_t)w * h != size || (want_h && (h != want_h || w != want_w))) {
            if (want_h)
                fprintf(stderr, "%s: %dx%d pixels, but the model reads %lldx%lld images\n", o->pos[1 + i], w, h,
                        (long long)want_w, (long long)want_h);
            else
                fprintf(stderr, "%s: %dx%d pixels, but the model reads images of %lld pixels\n", o->pos[1 + i], w, h,
                        (long long)size);
            rc = 1;
        } else {
            memcpy(all + (size_t)i * (size_t)size, px, (size_t)size);
        }
        free(px);
    }
    return rc;
}

/* One line an image, or with --json one array. */
static void print_predictions(const struct cli *o, int64_t c, const int32_t *cls, const float *probs) {
    int n = o->n_pos - 1;
    if (o->json) printf("[\n");
    for (int i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * (size_t)c;
        int64_t best = cls[i];
        if (o->json) {
            printf("  {\"image\": ");
            gr_put_json_string(stdout, o->pos[1 + i]);
            /* no class (logits not finite): null */
            if (best < 0) printf(", \"class\": null, \"probabilities\": [");
            else printf(", \"class\": %lld, \"probabilities\": [", (long long)best);
            /* JSON has no NaN: a non-finite probability (weights that are
             * not finite) is null */
            for (int64_t k = 0; k < c; k++) {
                if (isfinite(p[k])) printf("%s%.8g", k ? ", " : "", (double)p[k]);
                else printf("%snull", k ? ", " : "");
            }
            printf("]}%s\n", i + 1 < n ? "," : "");
        } else {
            if (best < 0) printf("%s: no class (logits not finite)   ", o->pos[1 + i]);
            else printf("%s: %lld (%.4f)   ", o->pos[1 + i], (long long)best, (double)p[best]);
            for (int64_t k = 0; k < c; k++) printf("%s%lld:%.4f", k ? " " : "", (long long)k, (double)p[k]);
            printf("\n");
        }
    }
    if (o->json) printf("]\n");
}

static int cmd_predict(struct cli *o) {
    struct job j;
    if (cli_open_job(&j, o, 1)) return 1;
    struct gr_session *s = &j.s;
    int n = o->n_pos - 1;
    struct gr_shape img = gr_session_image_shape(s);
    int64_t size = gr_shape_count(&img), c = s->g.nodes[s->logits].shape.dim[1];
    uint8_t *all = malloc((size_t)(n * size));
    float *probs = malloc((size_t)(n * c) * sizeof *probs);
    int32_t *cls = malloc((size_t)n * sizeof *cls);
    int rc = all && probs && cls ? 0 : 1;
    if (rc == 0 && img.rank == 0) {
        fprintf(stderr, "graphrun predict: %s: the graph has no image input\n", o->pos[0]);
        rc = 1;
    }
    if (rc == 0) rc = read_images(o, &img, all);
    if (rc == 0 && gr_session_predict(s, all, n, cls, probs)) {
        fprintf(stderr, "%s\n", j.ctx.err);
        rc = 1;
    }
    if (rc == 0) print_predictions(o, c, cls, probs);
    free(all);
    free(probs);
    free(cls);
    cli_close_job(&j);
    return rc;
}

const struct command gr_cmd_eval = {"eval", cmd_eval,
    "usage: graphrun eval CONFIG --checkpoint CKPT [--set PATH=VALUE | --unset PATH]...\n"
     "                     [--threads N] [--predictions FILE]\n"
     "\n"
     "Load CKPT into CONFIG's graph and evaluate the whole test set: accuracy,\n"
     "each class's precision and recall, and the confusion matrix. With\n"
     "--predictions, also write one CSV row per test image to FILE:\n"
     "index,label,predicted,probability (the predicted class's).\n",
    "--set --unset --checkpoint --threads --predictions", 1, 1};

const struct command gr_cmd_predict = {"predict", cmd_predict,
    "usage: graphrun predict CONFIG --checkpoint CKPT IMAGE... [--json]\n"
     "                        [--set PATH=VALUE | --unset PATH]...\n"
     "\n"
     "Classify images with CKPT's weights: each IMAGE is a PNG (converted to\n"
     "8-bit gray) or PGM file of the training images' size (28x28 for MNIST:\n"
     "a light digit on a dark background, as in the data). Prints the predicted\n"
     "class and every class's probability, or, with --json, one JSON array.\n",
    "--set --unset --checkpoint --json --threads", 2, 100000};
