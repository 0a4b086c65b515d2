#include "runtime/session/datasets.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ops/core.h"
#include "runtime/base/ctx.h"
#include "runtime/base/text.h"
#include "runtime/session/state.h"

static const char *array_list(const struct gr_dataset *d, char *buf, size_t len);

/* A data file that is not there is most likely one not fetched yet. */
static const char *missing_hint(const char *path) {
    static const char *const mnist[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                                        "t10k-labels-idx1-ubyte", NULL};
    struct stat st;
    if (stat(path, &st) == 0 || errno != ENOENT) return "";
    if (strstr(path, "/fashion-mnist/")) return " (install Debian's dataset-fashion-mnist: run tools/setup.sh)";
    if (strstr(path, "data/mnist/")) return " (run tools/fetch_mnist.sh)";
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    for (int i = 0; mnist[i]; i++)
        if (strncmp(base, mnist[i], strlen(mnist[i])) == 0) return " (run tools/fetch_mnist.sh)";
    return "";
}

/* Whether msg names `path` as a word of its own (not inside a longer path). */
static int names_path(const char *msg, const char *path) {
    size_t n = strlen(path);
    for (const char *p = strstr(msg, path); p && n; p = strstr(p + 1, path))
        if ((p == msg || p[-1] == ' ') && (!p[n] || strchr(" :,;)", p[n]))) return 1;
    return 0;
}

/* The message in ctx->err, at file f of a dataset's config; where f is the
 * file's and the message names another of the dataset's files, which an
 * override set (their counts disagree), at that override. */
static int fail_at_file(struct gr_ctx *ctx, const char *config, const struct gr_split_cfg *sc,
                        const struct gr_file_cfg *f) {
    char msg[GR_ERRBUF];
    snprintf(msg, sizeof msg, "%s", ctx->err);
    const struct gr_ynode *at = f->at;
    for (int k = 0; k < sc->n_files && at && !at->origin; k++)
        if (&sc->files[k] != f && sc->files[k].at && sc->files[k].at->origin && names_path(msg, sc->files[k].path))
            at = sc->files[k].at;
    return gr_fail_node(ctx, config, at, "%s: %s%s", sc->name, msg, missing_hint(f->path));
}

static void to_column(const struct gr_column_cfg *c, struct gr_column *out) {
    out->name = c->name;
    out->index = c->index;
}

int gr_dataset_open_cfg(struct gr_ctx *ctx, const char *config, struct gr_dataset *d, const struct gr_split_cfg *sc) {
    const struct gr_csv_cfg *c = &sc->csv;
    struct gr_column label, *features = NULL;
    struct gr_read_opts opts = {.delimiter = c->delimiter,
                                .header = c->header < 0 ? GR_CSV_HEADER_AUTO : c->header ? GR_CSV_HEADER_YES
                                                                                         : GR_CSV_HEADER_NO};
    if (c->has_label) to_column(&c->label, &label), opts.label = &label;
    if (c->n_features) {
        if (!(features = gr_calloc(ctx, (size_t)c->n_features, sizeof *features))) return -1;
        for (int i = 0; i < c->n_features; i++) to_column(&c->features[i], &features[i]);
        opts.features = features;
        opts.n_features = c->n_features;
    }
    int rc = 0, csv = 0;
    for (int i = 0; i < sc->n_files && rc == 0; i++) {
        const struct gr_file_cfg *f = &sc->files[i];
        struct gr_dataset_file df = {f->path, f->format, f->array, &opts};
        if (gr_dataset_add(ctx, d, &df)) rc = fail_at_file(ctx, config, sc, f);
        else csv |= strcmp(d->src[d->n_files - 1].reader->name, "csv") == 0;
    }
    gr_free(ctx, features);
    if (rc == 0 && c->given && !csv)
        rc = gr_fail_node(ctx, config, c->at, "%s.csv: options for a CSV file, but %s reads none", sc->name,
                          sc->name);
    gr_dataset_limit(d, sc->limit);
    return rc;
}

static struct gr_split split_of(const char *name, const char *what, struct gr_dataset *d,
                                const struct gr_split_cfg *sc) {
    return (struct gr_split){name, what, d, sc, NULL, d->n};
}

/* data.validation held out of data.train: its size. */
static int hold_out(struct gr_session *s) {
    const struct gr_data_cfg *dc = &s->cfg->data;
    int64_t n = s->train.n, count = gr_data_cfg_holdout(dc, n);
    if (count >= n)
        return gr_fail_node(s->ctx, s->cfg->path, dc->validation_at,
                            "data.validation: holding %lld of the %lld samples of data.train out leaves none to train "
                            "on",
                            (long long)count, (long long)n);
    s->valid_set = split_of("data.validation", "validation", &s->train, &dc->train);
    s->valid_set.n = count;
    s->train_set.n = n - count;
    return 0;
}

int gr_session_open_data(struct gr_session *s) {
    const struct gr_data_cfg *dc = &s->cfg->data;
    if (gr_session_uses_train(s)) {
        if (gr_dataset_open_cfg(s->ctx, s->cfg->path, &s->train, &dc->train)) return -1;
        s->train_set = split_of("data.train", "training", &s->train, &dc->train);
        if (dc->validation.present) {
            if (gr_dataset_open_cfg(s->ctx, s->cfg->path, &s->valid, &dc->validation)) return -1;
            s->valid_set = split_of("data.validation", "validation", &s->valid, &dc->validation);
        } else if (gr_data_cfg_has_validation(dc) && hold_out(s)) {
            return -1;
        }
    }
    if (gr_session_uses_test(s)) {
        if (gr_dataset_open_cfg(s->ctx, s->cfg->path, &s->test, &dc->test)) return -1;
        s->test_set = split_of("data.test", "test", &s->test, &dc->test);
    }
    s->eval_set = s->cfg->eval_on_validation && s->valid_set.d ? &s->valid_set : &s->test_set;
    return 0;
}

/* An input of dtype ints reading an array of type a->type: 0, or what the
 * message says after "array 'x' of SET". */
static const char *type_clash(int ints, const struct gr_array_info *a) {
    if (a->type != (ints ? GR_ARRAY_F32 : GR_ARRAY_I32)) return NULL;
    return ints ? "an int32 input reads uint8 or int32 arrays (dtype: float32 reads floats)"
                : "a float32 input reads uint8 or float32 arrays (dtype: int32 reads integers)";
}

/* "array 'x' of SET holds ... values (... in FILE); why" */
static void clash_text(const char *set, const struct gr_dataset *d, int k, const char *why, char *msg, size_t len) {
    const struct gr_array_info *a = &d->arrays[k].info;
    snprintf(msg, len, "array '%s' of %s holds %s values (%s in %s); %s", a->name, set, gr_array_type_name(a->type),
             gr_elem_name(a->elem), gr_dataset_path(d, k), why);
}

/* The `data` of a YAML node declared `op: input` names an array of some
 * open dataset, of a type its dtype reads: found before the graph is built,
 * since an input's dtype follows the name it gives (`data: labels` is
 * int32), and a wrong one makes the ops it feeds fail with less to say. */
static int check_name(struct gr_session *s, const struct gr_ynode *nd, const struct gr_ynode *data) {
    const struct gr_ynode *name = gr_ymap_get(nd, "name"), *dtype = gr_ymap_get(nd, "dtype");
    const char *node = name && name->kind == GR_Y_SCALAR ? name->str : "?";
    int ints = dtype && dtype->kind == GR_Y_SCALAR ? !strcmp(dtype->str, "int32") : !strcmp(data->str, "labels");
    struct gr_dataset *sets[3] = {&s->train, &s->valid, &s->test};
    const char *names[3] = {"data.train", "data.validation", "data.test"};
    struct gr_suggest sg;
    gr_suggest_init(&sg, data->str);
    int open = 0;
    for (int k = 0; k < 3; k++) {
        if (!sets[k]->n_files) continue;
        int a = gr_dataset_find(sets[k], data->str);
        const char *why = a >= 0 ? type_clash(ints, &sets[k]->arrays[a].info) : NULL;
        char msg[GR_ERRBUF];
        if (why) {
            clash_text(names[k], sets[k], a, why, msg, sizeof msg);
            return gr_fail_node(s->ctx, s->cfg->path, dtype ? dtype : data, "node '%s': %s", node, msg);
        }
        if (a >= 0) return 0;
        for (int j = 0; j < sets[k]->n_arrays; j++) gr_suggest_offer(&sg, sets[k]->arrays[j].info.name);
        open = 1;
    }
    if (!open) return 0;
    const char *near = gr_suggest_best(&sg);
    if (near)
        return gr_fail_node(s->ctx, s->cfg->path, data,
                            "node '%s': data: no dataset has an array '%s' (did you mean '%s'?)", node, data->str, near);
    char list[256];
    return gr_fail_node(s->ctx, s->cfg->path, data, "node '%s': data: no dataset has an array '%s' (data.%s has %s)",
                        node, data->str, s->train.n_files ? "train" : "test",
                        array_list(s->train.n_files ? &s->train : &s->test, list, sizeof list));
}

int gr_session_check_names(struct gr_session *s) {
    const struct gr_ynode *g = s->cfg->graph;
    for (int i = 0; g && g->kind == GR_Y_SEQ && i < g->n; i++) {
        const struct gr_ynode *nd = g->items[i], *op, *data;
        if (nd->kind != GR_Y_MAP || !(op = gr_ymap_get(nd, "op")) || op->kind != GR_Y_SCALAR ||
            strcmp(op->str, "input") != 0 || !(data = gr_ymap_get(nd, "data")) || data->kind != GR_Y_SCALAR)
            continue;
        if (check_name(s, nd, data)) return -1;
    }
    return 0;
}

int gr_split_array(const struct gr_split *sp, const struct gr_node *nd) {
    return gr_dataset_find(sp->d, nd->attrs[GR_INPUT_DATA].s);
}

static int64_t per_sample(const struct gr_node *nd) { return gr_shape_count(&nd->shape) / nd->shape.dim[0]; }

/* "a, b, c": the arrays of a dataset, for messages. */
static const char *array_list(const struct gr_dataset *d, char *buf, size_t len) {
    size_t at = 0;
    buf[0] = 0;
    for (int k = 0; k < d->n_arrays && at < len; k++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s", k ? ", " : "", d->arrays[k].info.name);
    return buf;
}

static int no_array(struct gr_session *s, const struct gr_split *sp, int i) {
    const char *name = s->g.nodes[i].attrs[GR_INPUT_DATA].s;
    struct gr_suggest sg;
    gr_suggest_init(&sg, name);
    for (int k = 0; k < sp->d->n_arrays; k++) gr_suggest_offer(&sg, sp->d->arrays[k].info.name);
    char list[256];
    const struct gr_ynode *map = sp->cfg ? sp->cfg->at : NULL;
    if (map && gr_ymap_removed_by(map, name)) /* its file's key removed by an --unset */
        return gr_fail_missing(s->ctx, s->cfg->path, map, name, "node '%s': data: %s has no array '%s' (it has %s)",
                               s->g.nodes[i].name, sp->name, name, array_list(sp->d, list, sizeof list));
    if (gr_suggest_best(&sg))
        return gr_node_fail(&s->g, i, GR_INPUT_DATA, "data: %s has no array '%s' (did you mean '%s'?)", sp->name, name,
                            gr_suggest_best(&sg));
    return gr_node_fail(&s->g, i, GR_INPUT_DATA, "data: %s has no array '%s' (it has %s)", sp->name, name,
                        array_list(sp->d, list, sizeof list));
}

/* Input node i against its array in set sp. */
static int check_input(struct gr_session *s, const struct gr_split *sp, int i) {
    const struct gr_node *nd = &s->g.nodes[i];
    int k = gr_split_array(sp, nd);
    if (k < 0) return no_array(s, sp, i);
    struct gr_data_array *x = &sp->d->arrays[k];
    const struct gr_array_info *a = &x->info;
    const char *why = type_clash(nd->dtype == GR_I32, a);
    if (why) {
        char msg[GR_ERRBUF];
        clash_text(sp->name, sp->d, k, why, msg, sizeof msg);
        return gr_node_fail(&s->g, i, nd->attrs[GR_INPUT_DTYPE].present ? GR_INPUT_DTYPE : GR_INPUT_DATA, "%s", msg);
    }
    if (x->per_sample != per_sample(nd)) {
        char sh[32 * GR_ARRAY_MAX_RANK];
        if (!strcmp(a->name, "images"))
            return gr_node_fail(&s->g, i, GR_INPUT_SHAPE,
                                "shape holds %lld value%s per sample, but the images are %s (%lld values)",
                                (long long)per_sample(nd), per_sample(nd) == 1 ? "" : "s",
                                gr_array_sample_text(a, sh, sizeof sh),
                                (long long)x->per_sample);
        return gr_node_fail(&s->g, i, GR_INPUT_SHAPE,
                            "shape holds %lld value%s per sample, but array '%s' of %s is %s (%lld values)",
                            (long long)per_sample(nd), per_sample(nd) == 1 ? "" : "s", a->name, sp->name,
                            gr_array_sample_text(a, sh, sizeof sh), (long long)x->per_sample);
    }
    x->wanted = 1;
    x->keep |= s->mode != GR_SESSION_CHECK || nd->dtype == GR_I32; /* check keeps the indices to check them */
    return 0;
}

/* reach[i] |= bit for every node `target` depends on. */
static void mark_reach(const struct gr_graph *g, int target, int bit, int *reach) {
    if (target < 0) return;
    reach[target] |= bit;
    for (int i = target; i >= 0; i--) /* inputs come before their consumers */
        if (reach[i] & bit)
            for (int k = 0; k < g->nodes[i].n_in; k++) reach[g->nodes[i].in[k]] |= bit;
}

/* The sets a session evaluates on: the validation set and the test set. */
static int eval_sets(struct gr_session *s, struct gr_split **out) {
    int n = 0;
    if (s->valid_set.d) out[n++] = &s->valid_set;
    if (s->test_set.d) out[n++] = &s->test_set;
    return n;
}

/* eval.labels in an evaluation set: one class index a sample, or a float32
 * row of class scores (one-hot or soft targets, whose argmax is the class). */
static int check_eval_labels(struct gr_session *s, struct gr_split *sp) {
    const struct gr_config *cfg = s->cfg;
    const struct gr_ynode *at = cfg->eval_labels_at ? cfg->eval_labels_at : cfg->logits_at;
    const char *key = cfg->eval_labels_at ? "eval.labels" : "eval.logits";
    int k = gr_dataset_find(sp->d, cfg->eval_labels);
    char list[256];
    if (k < 0)
        return gr_fail_node(s->ctx, cfg->path, at,
                            "%s: %s has no array '%s' to count the logits' hits against (it has %s; eval.labels names "
                            "another)",
                            key, sp->name, cfg->eval_labels, array_list(sp->d, list, sizeof list));
    struct gr_data_array *x = &sp->d->arrays[k];
    int64_t classes = s->g.nodes[s->logits].shape.dim[1];
    int ok = x->info.type == GR_ARRAY_F32 ? x->per_sample == classes : x->per_sample == 1;
    if (!ok)
        return gr_fail_node(s->ctx, cfg->path, at,
                            "%s: array '%s' of %s holds %lld %s values a sample; accuracy needs one class index (uint8 "
                            "or int32) or a float32 row of %lld class scores a sample",
                            key, cfg->eval_labels, sp->name, (long long)x->per_sample,
                            gr_array_type_name(x->info.type), (long long)classes);
    x->wanted = x->keep = 1;
    return 0;
}

/* data.train.augment: images [H, W] or [H, W, C] that a float input reads. */
static int check_augment(struct gr_session *s, const int *reach) {
    const struct gr_augment_cfg *ac = &s->cfg->data.train.augment;
    s->aug_array = -1;
    if (!ac->on || !gr_session_uses_train(s)) return 0;
    int k = gr_dataset_find(&s->train, ac->array), read = 0;
    for (int i = 0; k >= 0 && i < s->g.n; i++)
        read |= (reach[i] & 1) && (s->g.nodes[i].op->flags & GR_OP_INPUT) && s->g.nodes[i].dtype == GR_F32 &&
                gr_split_array(&s->train_set, &s->g.nodes[i]) == k;
    const struct gr_array_info *a = k >= 0 ? &s->train.arrays[k].info : NULL;
    if (!read)
        return gr_fail_node(s->ctx, s->cfg->path, ac->at,
                            "data.train.augment: no float32 input of the training graph reads array '%s' of data.train",
                            ac->array);
    if ((a->type != GR_ARRAY_U8 && a->type != GR_ARRAY_F32) || a->rank < 3 || a->rank > 4) {
        char sh[32 * GR_ARRAY_MAX_RANK];
        return gr_fail_node(s->ctx, s->cfg->path, ac->at,
                            "data.train.augment: array '%s' holds %s samples of %s; augmentation moves images [H, W] "
                            "or [H, W, C] of uint8 or float32",
                            ac->array, gr_array_type_name(a->type), gr_array_sample_text(a, sh, sizeof sh));
    }
    s->aug_array = k;
    s->aug_h = a->dim[1];
    s->aug_w = a->dim[2];
    s->aug_c = a->rank == 4 ? a->dim[3] : 1;
    s->aug = (struct gr_augment){ac->shift, ac->rotate, ac->erase_p, ac->erase_lo, ac->erase_hi, s->cfg->seed};
    return 0;
}

/* Without data (predict) every image input reads the same image. */
static int check_images_agree(struct gr_session *s) {
    const struct gr_node *first = NULL;
    for (int i = 0; i < s->g.n; i++) {
        const struct gr_node *nd = &s->g.nodes[i];
        if (!(nd->op->flags & GR_OP_INPUT) || strcmp(nd->attrs[GR_INPUT_DATA].s, "images") != 0) continue;
        if (first && per_sample(nd) != per_sample(first))
            return gr_node_fail(&s->g, i, GR_INPUT_SHAPE,
                                "shape holds %lld value%s per sample, but input '%s' holds %lld; every image input "
                                "reads the same image",
                                (long long)per_sample(nd), per_sample(nd) == 1 ? "" : "s", first->name,
                                (long long)per_sample(first));
        first = first ? first : nd;
    }
    return 0;
}

int gr_session_check_data(struct gr_session *s) {
    if (check_images_agree(s)) return -1;
    int *reach = gr_calloc(s->ctx, (size_t)s->g.n, sizeof *reach);
    if (!reach) return -1;
    mark_reach(&s->g, s->loss, 1, reach);
    mark_reach(&s->g, s->logits, 2, reach);
    struct gr_split *sets[2];
    int n_eval = eval_sets(s, sets), rc = 0;
    for (int i = 0; i < s->g.n && rc == 0; i++) {
        if (!(s->g.nodes[i].op->flags & GR_OP_INPUT)) continue;
        if ((reach[i] & 1) && s->train_set.d) rc = check_input(s, &s->train_set, i);
        for (int e = 0; e < n_eval && rc == 0; e++)
            if ((reach[i] & 2) && (sets[e]->d != &s->train || !(reach[i] & 1))) rc = check_input(s, sets[e], i);
    }
    for (int e = 0; e < n_eval && rc == 0 && s->logits >= 0; e++) rc = check_eval_labels(s, sets[e]);
    if (rc == 0) rc = check_augment(s, reach);
    gr_free(s->ctx, reach);
    return rc;
}

int gr_session_eval_feeds(struct gr_session *s, const struct gr_plan *p) {
    struct gr_split *sets[2];
    int n_eval = eval_sets(s, sets);
    for (int pass = 0; pass < 2; pass++)
        for (int o = 0; o < p->n_order; o++) {
            const struct gr_node *nd = &s->g.nodes[p->order[o]];
            if (!(nd->op->flags & GR_OP_INPUT)) continue;
            for (int e = 0; e < n_eval; e++) {
                int k = gr_split_array(sets[e], nd);
                struct gr_data_array *x = k >= 0 ? &sets[e]->d->arrays[k] : NULL;
                if (pass == 0 && (!x || type_clash(nd->dtype == GR_I32, &x->info) || x->per_sample != per_sample(nd)))
                    return 0;
                if (pass == 1) { /* all fit: read them as check_input would */
                    x->wanted = 1;
                    x->keep |= s->mode != GR_SESSION_CHECK || nd->dtype == GR_I32;
                }
            }
        }
    return 1;
}

double gr_session_data_bytes(const struct gr_session *s) {
    const struct gr_dataset *sets[3] = {&s->train, &s->valid, &s->test};
    double bytes = 0;
    for (int k = 0; k < 3; k++) bytes += (double)gr_dataset_bytes(sets[k]);
    /* the sampler's order and the held-out rows */
    if (gr_session_uses_train(s)) bytes += (double)s->train.n * (s->valid_set.d == &s->train ? 8.0 : 4.0);
    return bytes;
}

int gr_dataset_read_cfg_fail(struct gr_ctx *ctx, const char *config, const struct gr_split_cfg *sc, int bad) {
    return fail_at_file(ctx, config, sc, &sc->files[bad]);
}

static int read_set(struct gr_session *s, struct gr_dataset *d, const struct gr_split_cfg *sc) {
    int bad = 0;
    if (d->n_files == 0 || d->read) return 0;
    if (gr_dataset_read(s->ctx, d, &bad)) return gr_dataset_read_cfg_fail(s->ctx, s->cfg->path, sc, bad);
    return 0;
}

int gr_session_read_data(struct gr_session *s) {
    const struct gr_data_cfg *dc = &s->cfg->data;
    if (read_set(s, &s->train, &dc->train) || read_set(s, &s->valid, &dc->validation) ||
        read_set(s, &s->test, &dc->test))
        return -1;
    if (s->valid_set.d != &s->train) return 0;
    int64_t n = s->train.n;
    if (!(s->holdout = gr_alloc(s->ctx, (size_t)n * sizeof *s->holdout))) return -1;
    gr_holdout(s->cfg->seed, n, s->valid_set.n, s->holdout);
    s->train_set.rows = s->holdout;
    s->valid_set.rows = s->holdout + s->train_set.n;
    return 0;
}

/* The input node an int32 value comes from, through the ops that carry it
 * (reshape, slice, ...: each int32 node's first input), or -1. */
static int index_source(const struct gr_graph *g, int i) {
    while (i >= 0 && g->nodes[i].dtype == GR_I32) {
        const struct gr_node *nd = &g->nodes[i];
        if (nd->op->flags & GR_OP_INPUT) return i;
        i = nd->n_user > 0 ? nd->in[0] : -1;
    }
    return -1;
}

/* The smallest index range the graph puts on input node src's values: the
 * logits' classes when it reads the evaluation's labels (evaluation counts
 * each label against the argmax), and every index limit an op declares for
 * an input fed by it, however reshaped or sliced on the way
 * (gr_infer.index_limit: a loss's classes, an embedding's rows). 0: none. */
static int64_t index_limit(struct gr_session *s, int src, const char **who) {
    struct gr_graph *g = &s->g;
    int64_t limit = 0;
    *who = NULL;
    if (s->logits >= 0 && !strcmp(g->nodes[src].attrs[GR_INPUT_DATA].s, s->cfg->eval_labels)) {
        const struct gr_node *lg = &g->nodes[s->logits];
        limit = lg->shape.dim[lg->shape.rank - 1];
        *who = lg->name;
    }
    for (int i = 0; i < g->n; i++) {
        const struct gr_node *nd = &g->nodes[i];
        if (nd->op->flags & (GR_OP_INPUT | GR_OP_PARAM)) continue;
        struct gr_infer inf;
        gr_node_infer_args(g, i, g->batch, 1, NULL, NULL, &inf);
        if (nd->op->infer(&inf)) continue; /* it passed when the graph was built */
        for (int k = 0; k < nd->n_user; k++) {
            int64_t c = inf.index_limit[k];
            if (c <= 0 || index_source(g, nd->in[k]) != src) continue;
            if (limit == 0 || c < limit) {
                limit = c;
                *who = nd->name;
            }
        }
    }
    return limit;
}

/* Every value of array k of set sp (all its dataset's rows) in [0, limit). */
static int check_range(struct gr_session *s, const struct gr_split *sp, int k, int64_t limit, const char *who) {
    const struct gr_dataset *d = sp->d;
    if (k < 0 || !d->arrays[k].data || d->arrays[k].info.type == GR_ARRAY_F32) return 0;
    int64_t at = gr_dataset_find_outside(d, k, d->n, limit);
    if (at < 0) return 0;
    const struct gr_split_cfg *sc = sp->cfg;
    const char *name = d->arrays[k].info.name;
    return gr_fail_node(s->ctx, s->cfg->path, sc->files[d->arrays[k].file].at,
                        "%s.%s: %s %d at index %lld is out of range: node '%s' has %lld classes", sc->name, name,
                        !strcmp(name, "labels") ? "label" : "value", gr_dataset_int(d, k, at), (long long)at, who,
                        (long long)limit);
}

int gr_session_check_indices(struct gr_session *s) {
    struct gr_split *sets[3] = {&s->train_set, &s->valid_set, &s->test_set};
    for (int i = 0; i < s->g.n; i++) {
        const struct gr_node *nd = &s->g.nodes[i];
        if (!(nd->op->flags & GR_OP_INPUT) || nd->dtype != GR_I32) continue;
        const char *who;
        int64_t limit = index_limit(s, i, &who);
        for (int e = 0; e < 3 && limit > 0; e++)
            if (sets[e]->d && check_range(s, sets[e], gr_split_array(sets[e], nd), limit, who)) return -1;
    }
    if (s->logits < 0) return 0;
    const struct gr_node *lg = &s->g.nodes[s->logits];
    for (int e = 1; e < 3; e++)
        if (sets[e]->d &&
            check_range(s, sets[e], gr_dataset_find(sets[e]->d, s->cfg->eval_labels), lg->shape.dim[1], lg->name))
            return -1;
    return 0;
}
