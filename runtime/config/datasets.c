#include "runtime/config/datasets.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/yaml/check.h"

static const char *const data_keys[] = {"train", "test", "validation", "pixel_range", NULL};
static const char *const split_keys[] = {"images", "labels", "arrays", "file", "format", "csv", "limit", "augment",
                                         NULL};
static const char *const file_keys[] = {"file", "format", NULL};
static const char *const csv_keys[] = {"label", "features", "header", "delimiter", NULL};
static const char *const augment_keys[] = {"array", "shift", "rotate", "erase", NULL};
static const char *const erase_keys[] = {"p", "area", NULL};

/* What a reader of one file needs at hand. */
struct rd {
    struct gr_ctx *ctx;
    const char *file, *dir;
};

static char *resolve(struct gr_ctx *ctx, const char *dir, const char *p) {
    if (p[0] == '/' || !dir || !dir[0]) return gr_strdup(ctx, p);
    size_t n = strlen(dir) + strlen(p) + 2;
    char *out = gr_alloc(ctx, n);
    if (out) snprintf(out, n, "%s/%s", dir, p);
    return out;
}

/* A path, or {file: PATH, format: F}, at `v` (key `key` of the dataset, or
 * of its `arrays` when sub is set). */
static int read_file(struct rd *r, struct gr_split_cfg *s, const struct gr_ynode *v, const char *key,
                     const char *sub, const char *array) {
    char what[160];
    snprintf(what, sizeof what, "%s.%s%s%s", s->name, key, sub ? "." : "", sub ? sub : "");
    if (s->n_files == GR_SPLIT_MAX_FILES)
        return gr_fail_node(r->ctx, r->file, v, "%s: a dataset reads at most %d files", what, GR_SPLIT_MAX_FILES);
    struct gr_file_cfg *f = &s->files[s->n_files];
    const struct gr_ynode *path = v;
    int k = 0;
    f->keys[k++] = key;
    if (sub) f->keys[k++] = sub;
    if (v->kind == GR_Y_MAP) {
        if (gr_check_keys(r->ctx, r->file, v, file_keys, what)) return -1;
        if (!(path = gr_ymap_get(v, "file"))) return gr_fail_missing(r->ctx, r->file, v, "file", "%s: missing 'file'", what);
        f->keys[k++] = "file";
        const struct gr_ynode *fmt = gr_ymap_get(v, "format");
        char w2[180];
        snprintf(w2, sizeof w2, "%s.format", what);
        if (fmt && gr_read_string(r->ctx, r->file, fmt, w2, &f->format)) return -1;
    }
    const char *p;
    if (gr_read_string(r->ctx, r->file, path, what, &p)) return -1;
    if (!p[0]) return gr_fail_node(r->ctx, r->file, path, "%s: expected a file's path, got an empty string", what);
    if (!(f->path = resolve(r->ctx, r->dir, p))) return -1;
    f->at = path;
    f->array = array;
    s->n_files++;
    return 0;
}

/* A CSV column: an unquoted integer is an index, anything else a name. */
static int read_column(struct rd *r, const struct gr_ynode *v, const char *what, struct gr_column_cfg *c) {
    if (gr_need_kind(r->ctx, r->file, v, GR_Y_SCALAR, what)) return -1;
    const char *t = v->str, *digits = t + (t[0] == '-' || t[0] == '+');
    if (!v->quoted && digits[0] && strspn(digits, "0123456789") == strlen(digits))
        return gr_read_int(r->ctx, r->file, v, -100000, 99999, what, &c->index);
    c->name = t;
    return t[0] ? 0 : gr_fail_node(r->ctx, r->file, v, "%s: expected a column's name or index, got ''", what);
}

static int read_csv(struct rd *r, struct gr_split_cfg *s, const struct gr_ynode *v) {
    char what[160];
    struct gr_csv_cfg *c = &s->csv;
    snprintf(what, sizeof what, "%s.csv", s->name);
    if (gr_need_kind(r->ctx, r->file, v, GR_Y_MAP, what) || gr_check_keys(r->ctx, r->file, v, csv_keys, what))
        return -1;
    c->given = 1;
    c->at = v;
    c->header = -1;
    const struct gr_ynode *x;
    snprintf(what, sizeof what, "%s.csv.label", s->name);
    if ((x = gr_ymap_get(v, "label")) && (c->has_label = 1, read_column(r, x, what, &c->label))) return -1;
    if ((x = gr_ymap_get(v, "features"))) {
        snprintf(what, sizeof what, "%s.csv.features", s->name);
        if (gr_need_kind(r->ctx, r->file, x, GR_Y_SEQ, what)) return -1;
        if (x->n == 0 || x->n > GR_CSV_MAX_FEATURES)
            return gr_fail_node(r->ctx, r->file, x, "%s: expected 1 to %d columns, got %d", what, GR_CSV_MAX_FEATURES,
                                x->n);
        if (!(c->features = gr_calloc(r->ctx, (size_t)x->n, sizeof *c->features))) return -1;
        c->n_features = x->n;
        for (int i = 0; i < x->n; i++) {
            snprintf(what, sizeof what, "%s.csv.features[%d]", s->name, i);
            if (read_column(r, x->items[i], what, &c->features[i])) return -1;
        }
    }
    if ((x = gr_ymap_get(v, "header"))) {
        static const char *const header_values[] = {"false", "true", "auto", NULL};
        int h;
        snprintf(what, sizeof what, "%s.csv.header", s->name);
        if (gr_read_choice(r->ctx, r->file, x, header_values, what, &h)) return -1;
        c->header = h == 2 ? -1 : h;
    }
    if ((x = gr_ymap_get(v, "delimiter"))) {
        const char *d;
        snprintf(what, sizeof what, "%s.csv.delimiter", s->name);
        if (gr_read_string(r->ctx, r->file, x, what, &d)) return -1;
        if (strlen(d) != 1)
            return gr_fail_node(r->ctx, r->file, x, "%s: expected one character (',', ';', \"\\t\", '|'), got '%s'",
                                what, d);
        c->delimiter = d[0];
    }
    return 0;
}

static int read_erase(struct rd *r, struct gr_augment_cfg *a, const struct gr_ynode *v, const char *name) {
    char what[160];
    snprintf(what, sizeof what, "%s.augment.erase", name);
    if (gr_need_kind(r->ctx, r->file, v, GR_Y_MAP, what) || gr_check_keys(r->ctx, r->file, v, erase_keys, what))
        return -1;
    const struct gr_ynode *x;
    a->erase_p = 0.5;
    a->erase_lo = 0.02;
    a->erase_hi = 0.2;
    snprintf(what, sizeof what, "%s.augment.erase.p", name);
    if ((x = gr_ymap_get(v, "p")) && gr_read_float(r->ctx, r->file, x, 0, 1, what, &a->erase_p)) return -1;
    if (!(x = gr_ymap_get(v, "area"))) return 0;
    snprintf(what, sizeof what, "%s.augment.erase.area", name);
    if (gr_need_kind(r->ctx, r->file, x, GR_Y_SEQ, what)) return -1;
    if (x->n != 2) return gr_fail_node(r->ctx, r->file, x, "%s: expected [low, high], got %d values", what, x->n);
    if (gr_read_float_above(r->ctx, r->file, x->items[0], 0, 1, what, &a->erase_lo) ||
        gr_read_float_above(r->ctx, r->file, x->items[1], 0, 1, what, &a->erase_hi))
        return -1;
    if (a->erase_lo > a->erase_hi)
        return gr_fail_node(r->ctx, r->file, x, "%s: low (%g) must not be above high (%g)", what, a->erase_lo,
                            a->erase_hi);
    return 0;
}

static int read_augment(struct rd *r, struct gr_split_cfg *s, const struct gr_ynode *v) {
    char what[160];
    struct gr_augment_cfg *a = &s->augment;
    snprintf(what, sizeof what, "%s.augment", s->name);
    if (gr_need_kind(r->ctx, r->file, v, GR_Y_MAP, what) || gr_check_keys(r->ctx, r->file, v, augment_keys, what))
        return -1;
    a->on = 1;
    a->at = v;
    a->array = "images";
    const struct gr_ynode *x;
    snprintf(what, sizeof what, "%s.augment.array", s->name);
    if ((x = gr_ymap_get(v, "array")) && gr_read_string(r->ctx, r->file, x, what, &a->array)) return -1;
    snprintf(what, sizeof what, "%s.augment.shift", s->name);
    if ((x = gr_ymap_get(v, "shift")) && gr_read_int(r->ctx, r->file, x, 0, 1024, what, &a->shift)) return -1;
    snprintf(what, sizeof what, "%s.augment.rotate", s->name);
    if ((x = gr_ymap_get(v, "rotate")) && gr_read_float(r->ctx, r->file, x, 0, 180, what, &a->rotate)) return -1;
    if ((x = gr_ymap_get(v, "erase")) && read_erase(r, a, x, s->name)) return -1;
    return 0;
}

static int read_split(struct rd *r, struct gr_split_cfg *s, const struct gr_ynode *map, const char *name) {
    char what[160];
    s->name = name;
    s->at = map;
    if (gr_need_kind(r->ctx, r->file, map, GR_Y_MAP, name)) return -1;
    if (gr_check_keys(r->ctx, r->file, map, split_keys, name)) return -1;
    s->present = 1;
    const struct gr_ynode *v;
    if ((v = gr_ymap_get(map, "images")) && read_file(r, s, v, "images", NULL, "images")) return -1;
    if ((v = gr_ymap_get(map, "labels")) && read_file(r, s, v, "labels", NULL, "labels")) return -1;
    if ((v = gr_ymap_get(map, "arrays"))) {
        snprintf(what, sizeof what, "%s.arrays", name);
        if (gr_need_kind(r->ctx, r->file, v, GR_Y_MAP, what)) return -1;
        for (int i = 0; i < v->n; i++) {
            const char *key = gr_ymap_key(v, i)->str;
            if (!key[0] || strlen(key) > 63)
                return gr_fail_node(r->ctx, r->file, gr_ymap_key(v, i), "%s: an array's name has 1 to 63 bytes", what);
            if (read_file(r, s, gr_ymap_val(v, i), "arrays", key, key)) return -1;
        }
    }
    if ((v = gr_ymap_get(map, "file")) && read_file(r, s, v, "file", NULL, NULL)) return -1;
    if ((v = gr_ymap_get(map, "format"))) {
        snprintf(what, sizeof what, "%s.format", name);
        if (!gr_ymap_get(map, "file"))
            return gr_fail_node(r->ctx, r->file, v, "%s: gives the format of `file`, which %s does not name (the "
                                "format of one array's file goes with it: images: {file: PATH, format: F})",
                                what, name);
        /* `file` was read last, so it is the last of the files */
        if (gr_read_string(r->ctx, r->file, v, what, &s->files[s->n_files - 1].format)) return -1;
    }
    if (s->n_files == 0)
        return gr_fail_node(r->ctx, r->file, map, "%s: no data: give images and labels, arrays, or file", name);
    if ((v = gr_ymap_get(map, "csv")) && read_csv(r, s, v)) return -1;
    snprintf(what, sizeof what, "%s.limit", name);
    if ((v = gr_ymap_get(map, "limit")) && gr_read_int(r->ctx, r->file, v, 1, INT32_MAX, what, &s->limit)) return -1;
    if ((v = gr_ymap_get(map, "augment"))) {
        if (strcmp(name, "data.train") != 0)
            return gr_fail_node(r->ctx, r->file, v, "%s.augment: only data.train is augmented", name);
        if (read_augment(r, s, v)) return -1;
    }
    return 0;
}

/* data.validation: a count, a fraction of data.train, or a dataset. */
static int read_validation(struct rd *r, struct gr_data_cfg *d, const struct gr_ynode *v) {
    d->validation_at = v;
    if (v->kind == GR_Y_MAP) return read_split(r, &d->validation, v, "data.validation");
    const char *t = v->kind == GR_Y_SCALAR && !v->quoted ? v->str : "";
    if (t[0] && strspn(t, "0123456789") == strlen(t))
        return gr_read_int(r->ctx, r->file, v, 1, INT32_MAX, "data.validation", &d->holdout);
    char *end;
    double f = t[0] ? strtod(t, &end) : 0;
    if (t[0] && !*end && f > 0 && f < 1) {
        d->holdout_fraction = f;
        return 0;
    }
    return gr_fail_node(r->ctx, r->file, v,
                        "data.validation: expected a number of samples (an integer >= 1), a fraction of data.train "
                        "in (0, 1) or a dataset, got %s%s%s",
                        v->kind == GR_Y_SCALAR ? "'" : "", v->kind == GR_Y_SCALAR ? v->str : gr_ykind_name(v->kind),
                        v->kind == GR_Y_SCALAR ? "'" : "");
}

static int read_pixel_range(struct rd *r, struct gr_data_cfg *d, const struct gr_ynode *pr) {
    if (gr_need_kind(r->ctx, r->file, pr, GR_Y_SEQ, "data.pixel_range")) return -1;
    if (pr->n != 2)
        return gr_fail_node(r->ctx, r->file, pr, "data.pixel_range: expected [low, high], got %d values", pr->n);
    if (gr_read_float(r->ctx, r->file, pr->items[0], -1e6, 1e6, "data.pixel_range[0]", &d->pixel_lo) ||
        gr_read_float(r->ctx, r->file, pr->items[1], -1e6, 1e6, "data.pixel_range[1]", &d->pixel_hi))
        return -1;
    if (!(d->pixel_lo < d->pixel_hi))
        return gr_fail_node(r->ctx, r->file, pr, "data.pixel_range: low (%g) must be below high (%g)", d->pixel_lo,
                            d->pixel_hi);
    return 0;
}

int gr_data_cfg_read(struct gr_ctx *ctx, struct gr_data_cfg *d, const char *file, const char *dir,
                     const struct gr_ynode *data) {
    struct rd r = {ctx, file, dir};
    memset(d, 0, sizeof *d);
    d->pixel_lo = 0.0;
    d->pixel_hi = 1.0;
    if (gr_need_kind(ctx, file, data, GR_Y_MAP, "data")) return -1;
    if (gr_check_keys(ctx, file, data, data_keys, "data")) return -1;
    const struct gr_ynode *v;
    if (!(v = gr_ymap_get(data, "train"))) return gr_fail_missing(ctx, file, data, "train", "data: missing 'train'");
    if (read_split(&r, &d->train, v, "data.train")) return -1;
    if (!(v = gr_ymap_get(data, "test"))) return gr_fail_missing(ctx, file, data, "test", "data: missing 'test'");
    if (read_split(&r, &d->test, v, "data.test")) return -1;
    if ((v = gr_ymap_get(data, "validation")) && read_validation(&r, d, v)) return -1;
    if ((v = gr_ymap_get(data, "pixel_range")) && read_pixel_range(&r, d, v)) return -1;
    return 0;
}

int gr_data_cfg_each_path(const struct gr_data_cfg *d, struct gr_ynode *data,
                          int (*replace)(void *ud, struct gr_ynode *map, const char *key, const char *resolved),
                          void *ud) {
    const struct gr_split_cfg *splits[3] = {&d->train, &d->test, &d->validation};
    const char *keys[3] = {"train", "test", "validation"};
    for (int k = 0; k < 3; k++) {
        struct gr_ynode *map = splits[k]->present ? gr_ymap_get(data, keys[k]) : NULL;
        for (int i = 0; map && map->kind == GR_Y_MAP && i < splits[k]->n_files; i++) {
            const struct gr_file_cfg *f = &splits[k]->files[i];
            struct gr_ynode *at = map;
            int n = f->keys[2] ? 3 : f->keys[1] ? 2 : 1;
            for (int j = 0; j < n - 1 && at && at->kind == GR_Y_MAP; j++) at = gr_ymap_get(at, f->keys[j]);
            if (at && at->kind == GR_Y_MAP && replace(ud, at, f->keys[n - 1], f->path)) return -1;
        }
    }
    return 0;
}

int64_t gr_data_cfg_holdout(const struct gr_data_cfg *d, int64_t n) {
    if (d->holdout_fraction > 0) {
        int64_t k = llround(d->holdout_fraction * (double)n);
        return k > 0 ? k : 1;
    }
    return d->holdout;
}

static void free_split(struct gr_ctx *ctx, struct gr_split_cfg *s) {
    for (int i = 0; i < s->n_files; i++) gr_free(ctx, s->files[i].path);
    gr_free(ctx, s->csv.features);
}

void gr_data_cfg_free(struct gr_ctx *ctx, struct gr_data_cfg *d) {
    free_split(ctx, &d->train);
    free_split(ctx, &d->test);
    free_split(ctx, &d->validation);
    memset(d, 0, sizeof *d);
}
