/* graphrun data: what a config's data section gives a run, read as a run
 * reads it: each set's files and formats, its samples, and each array's
 * stored type, shape, values and (for one integer a sample) histogram. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/sampler.h"
#include "runtime/session/datasets.h"
#include "tools/cli/cli.h"

/* Distinct values a histogram shows; an array with more gets its range only. */
#define MAX_BINS 1000

/* Array k's value at flat index i as a double. */
static double value_at(const struct gr_data_array *x, int64_t i) {
    switch (x->info.type) {
    case GR_ARRAY_U8: return ((const uint8_t *)x->data)[i];
    case GR_ARRAY_I32: return ((const int32_t *)x->data)[i];
    default: return ((const float *)x->data)[i];
    }
}

/* One array over the set's rows: its range, and its histogram when it holds
 * one integer a sample in a span of at most MAX_BINS values. */
static void print_array(const struct gr_config *cfg, const struct gr_dataset *d, int k, const int32_t *rows, int64_t n) {
    const struct gr_data_array *x = &d->arrays[k];
    const struct gr_array_info *a = &x->info;
    char sh[32 * GR_ARRAY_MAX_RANK];
    double lo = 0, hi = 0;
    for (int64_t s = 0; s < n; s++) {
        int64_t row = rows ? rows[s] : s;
        for (int64_t j = 0; j < x->per_sample; j++) {
            double v = value_at(x, row * x->per_sample + j);
            if ((s == 0 && j == 0) || v < lo) lo = v;
            if ((s == 0 && j == 0) || v > hi) hi = v;
        }
    }
    int counted = a->type != GR_ARRAY_F32 && x->per_sample == 1 && hi - lo < MAX_BINS;
    printf("    %-12s %-8s %-16s (%s in the file)  values %g to %g", a->name, gr_array_type_name(a->type),
           gr_array_sample_text(a, sh, sizeof sh), gr_elem_name(a->elem), lo, hi);
    if (a->type == GR_ARRAY_U8 && !counted) /* pixels, as a float input reads them */
        printf(" (inputs %g to %g)", cfg->data.pixel_lo + (cfg->data.pixel_hi - cfg->data.pixel_lo) * lo / 255,
               cfg->data.pixel_lo + (cfg->data.pixel_hi - cfg->data.pixel_lo) * hi / 255);
    printf("\n");
    if (!counted) return;
    int64_t *count = calloc((size_t)(hi - lo) + 1, sizeof *count);
    if (!count) return;
    for (int64_t s = 0; s < n; s++) count[(int64_t)(value_at(x, rows ? rows[s] : s) - lo)]++;
    printf("      histogram:");
    for (int64_t v = 0, shown = 0; v <= (int64_t)(hi - lo); v++) {
        if (!count[v]) continue;
        printf("%s %lld: %lld", shown && shown % 8 == 0 ? "\n                " : "", (long long)(v + (int64_t)lo),
               (long long)count[v]);
        shown++;
    }
    printf("\n");
    free(count);
}

/* A set: its samples, files and arrays (rows NULL: the first n). */
static void print_set(const struct gr_config *cfg, const char *title, const struct gr_dataset *d, const int32_t *rows,
                      int64_t n, int files) {
    printf("%s: %lld samples", title, (long long)n);
    if (d->n < d->rows) printf(" (the first %lld of the files' %lld: limit)", (long long)d->n, (long long)d->rows);
    printf("\n");
    for (int f = 0; files && f < d->n_files; f++) {
        printf("  %s (%s)\n", d->src[f].path, d->src[f].reader->name);
        for (int k = 0; k < d->n_arrays; k++)
            if (d->arrays[k].file == f) print_array(cfg, d, k, rows, n);
    }
    for (int k = 0; !files && k < d->n_arrays; k++) print_array(cfg, d, k, rows, n);
}

/* Open and read every array of dataset sc. */
static int load(struct job *j, struct gr_dataset *d, const struct gr_split_cfg *sc) {
    memset(d, 0, sizeof *d);
    if (gr_dataset_open_cfg(&j->ctx, j->cfg.path, d, sc)) return -1;
    for (int k = 0; k < d->n_arrays; k++) d->arrays[k].wanted = d->arrays[k].keep = 1;
    int bad = 0;
    if (gr_dataset_read(&j->ctx, d, &bad)) return gr_dataset_read_cfg_fail(&j->ctx, j->cfg.path, sc, bad);
    return 0;
}

/* data.train, with the rows it holds out for validation. */
static int show_train(struct job *j, struct gr_dataset *d) {
    const struct gr_data_cfg *dc = &j->cfg.data;
    if (load(j, d, &dc->train)) return -1;
    int64_t n = d->n, held = gr_data_cfg_holdout(dc, n);
    if (held <= 0 || dc->validation.present) {
        print_set(&j->cfg, "data.train", d, NULL, n, 1);
        return 0;
    }
    if (held >= n)
        return gr_fail_node(&j->ctx, j->cfg.path, dc->validation_at,
                            "data.validation: holding %lld of the %lld samples of data.train out leaves none to train "
                            "on",
                            (long long)held, (long long)n);
    int32_t *rows = malloc((size_t)n * sizeof *rows);
    if (!rows) return gr_fail(&j->ctx, "out of memory");
    gr_holdout(j->cfg.seed, n, held, rows);
    char title[160];
    snprintf(title, sizeof title, "data.train (less the validation set)");
    print_set(&j->cfg, title, d, rows, n - held, 1);
    snprintf(title, sizeof title, "data.validation (held out of data.train by train.seed %llu)",
             (unsigned long long)j->cfg.seed);
    print_set(&j->cfg, title, d, rows + n - held, held, 0);
    free(rows);
    return 0;
}

static int cmd_data(struct cli *o) {
    struct job j;
    if (cli_open_job(&j, o, 0)) return 1;
    struct gr_dataset sets[3];
    memset(sets, 0, sizeof sets);
    const struct gr_data_cfg *dc = &j.cfg.data;
    printf("%s\n", o->pos[0]);
    int rc = show_train(&j, &sets[0]);
    if (rc == 0 && dc->validation.present && (rc = load(&j, &sets[1], &dc->validation)) == 0)
        print_set(&j.cfg, "data.validation", &sets[1], NULL, sets[1].n, 1);
    if (rc == 0 && (rc = load(&j, &sets[2], &dc->test)) == 0) print_set(&j.cfg, "data.test", &sets[2], NULL, sets[2].n, 1);
    if (rc) fprintf(stderr, "%s\n", j.ctx.err);
    for (int k = 0; k < 3; k++) gr_dataset_free(&j.ctx, &sets[k]);
    cli_close_job(&j);
    return rc ? 1 : 0;
}

const struct command gr_cmd_data = {"data", cmd_data,
    "usage: graphrun data CONFIG [--set PATH=VALUE | --unset PATH]...\n"
     "\n"
     "What CONFIG's data section gives a run, read as a run reads it: for the\n"
     "training set (and the validation set it holds out, or names), then the\n"
     "test set, each file with its format, the samples, and each array's stored\n"
     "type, sample shape, element type in the file, smallest and largest value\n"
     "(uint8 also as the float inputs data.pixel_range makes of it) and, for\n"
     "one integer a sample (class labels), the count of every value.\n",
    "--set --unset", 1, 1};
