/* Reading a checkpoint back: every byte checked before the session is
 * touched. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "runtime/base/ctx.h"
#include "runtime/base/fs.h"
#include "runtime/session/checkpoint.h"
#include "runtime/session/checkpoint_format.h"
#include "runtime/session/state.h"

/* ---- loading --------------------------------------------------------------- */

static int dtype_size(const char *d) {
    static const struct {
        const char *name;
        int size;
    } t[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
             {"I8", 1},  {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1},   {"BOOL", 1}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(d, t[i].name) == 0) return t[i].size;
    return 0;
}

static int meta_int(struct gr_ctx *ctx, const char *name, json_t *meta, const char *key, int64_t lo, int64_t hi,
                    int64_t *out) {
    json_t *v = json_object_get(meta, key);
    const char *str = json_string_value(v);
    if (!str) return gr_fail(ctx, "%s: metadata '%s' is missing", name, key);
    char *end;
    errno = 0;
    long long x = strtoll(str, &end, 10);
    if (!*str || *end || errno || x < lo || x > hi)
        return gr_fail(ctx, "%s: metadata '%s' is not a number in [%lld, %lld]: '%.40s'", name, key, (long long)lo,
                       (long long)hi, str);
    *out = x;
    return 0;
}

struct span {
    uint64_t b, e;
};

static int cmp_span(const void *a, const void *b) {
    const struct span *x = a, *y = b;
    return (x->b > y->b) - (x->b < y->b);
}

/* The spans of n tensors cover [0, data_len) exactly once. */
static int check_coverage(struct gr_ctx *ctx, const char *name, struct span *spans, size_t n, uint64_t data_len) {
    qsort(spans, n, sizeof *spans, cmp_span);
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (spans[i].b != at)
            return gr_fail(ctx, "%s: tensor data %s at byte %llu", name, spans[i].b < at ? "overlaps" : "has a hole",
                           (unsigned long long)at);
        at = spans[i].e;
    }
    if (at != data_len)
        return gr_fail(ctx, "%s: %llu bytes of data, but the tensors cover %llu", name, (unsigned long long)data_len,
                       (unsigned long long)at);
    return 0;
}

/* A tensor entry of the header: dtype, shape and offsets, all checked. */
struct tinfo {
    const char *dtype;
    int rank;
    int64_t dim[GR_MAX_DIMS];
    uint64_t b, e;
};

static int read_entry(struct gr_ctx *ctx, const char *name, const char *key, json_t *t, uint64_t data_len,
                      struct tinfo *ti) {
    if (!json_is_object(t)) return gr_fail(ctx, "%s: tensor '%s' is not an object", name, key);
    const char *k;
    json_t *v;
    json_object_foreach(t, k, v) {
        if (strcmp(k, "dtype") && strcmp(k, "shape") && strcmp(k, "data_offsets"))
            return gr_fail(ctx, "%s: tensor '%s' has an unknown field '%s'", name, key, k);
    }
    ti->dtype = json_string_value(json_object_get(t, "dtype"));
    if (!ti->dtype || !dtype_size(ti->dtype)) return gr_fail(ctx, "%s: tensor '%s' has no known dtype", name, key);
    json_t *shape = json_object_get(t, "shape"), *off = json_object_get(t, "data_offsets");
    if (!json_is_array(shape) || json_array_size(shape) > GR_MAX_DIMS)
        return gr_fail(ctx, "%s: tensor '%s': shape must be a list of at most %d sizes", name, key, GR_MAX_DIMS);
    ti->rank = (int)json_array_size(shape);
    uint64_t count = 1;
    for (int d = 0; d < ti->rank; d++) {
        json_t *x = json_array_get(shape, (size_t)d);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > ((json_int_t)1 << 40))
            return gr_fail(ctx, "%s: tensor '%s': shape[%d] is not a size", name, key, d);
        ti->dim[d] = json_integer_value(x);
        if ((uint64_t)ti->dim[d] != 0 && count > UINT64_MAX / 8 / (uint64_t)ti->dim[d])
            return gr_fail(ctx, "%s: tensor '%s': shape is too large", name, key);
        count *= (uint64_t)ti->dim[d];
    }
    if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(json_array_get(off, 0)) ||
        !json_is_integer(json_array_get(off, 1)))
        return gr_fail(ctx, "%s: tensor '%s': data_offsets must be [begin, end]", name, key);
    json_int_t b = json_integer_value(json_array_get(off, 0)), e = json_integer_value(json_array_get(off, 1));
    if (b < 0 || e < b || (uint64_t)e > data_len)
        return gr_fail(ctx, "%s: tensor '%s': data_offsets [%lld, %lld] lie outside the %llu bytes of data", name, key,
                       (long long)b, (long long)e, (unsigned long long)data_len);
    if ((uint64_t)(e - b) != count * (uint64_t)dtype_size(ti->dtype))
        return gr_fail(ctx, "%s: tensor '%s': %lld bytes of data for %llu values of %s", name, key,
                       (long long)(e - b), (unsigned long long)count, ti->dtype);
    ti->b = (uint64_t)b;
    ti->e = (uint64_t)e;
    return 0;
}

static const char *shape_text(int rank, const int64_t *dim, char *buf, size_t len) {
    struct gr_shape sh = {rank, {0}};
    memcpy(sh.dim, dim, (size_t)rank * sizeof *dim);
    return gr_shape_format(&sh, buf, len);
}

/* The tensor `key` of the header, which must exist and be dtype/shape. */
static int want_tensor(struct gr_ctx *ctx, const char *name, json_t *root, const char *key, const char *dtype,
                       int rank, const int64_t *dim, uint64_t data_len, struct tinfo *ti, const char *what) {
    json_t *t = json_object_get(root, key);
    if (!t) return gr_fail(ctx, "%s: no tensor '%s' (%s); is it a checkpoint of this graph?", name, key, what);
    if (read_entry(ctx, name, key, t, data_len, ti)) return -1;
    char a[96], b[96];
    if (strcmp(ti->dtype, dtype) != 0 || ti->rank != rank || memcmp(ti->dim, dim, (size_t)rank * sizeof *dim) != 0)
        return gr_fail(ctx, "%s: tensor '%s' is %s %s in the checkpoint but %s %s in this run", name, key, ti->dtype,
                       shape_text(ti->rank, ti->dim, a, sizeof a), dtype, shape_text(rank, dim, b, sizeof b));
    return 0;
}

/* "[i, j, k]": the coordinates of element `at` of a tensor shaped like e. */
static const char *coords(const struct gr_ckpt_entry *e, uint64_t at, char *buf, size_t len) {
    int64_t c[GR_MAX_DIMS];
    for (int d = e->rank - 1; d >= 0; d--) {
        c[d] = e->dim[d] ? (int64_t)(at % (uint64_t)e->dim[d]) : 0;
        at = e->dim[d] ? at / (uint64_t)e->dim[d] : 0;
    }
    return shape_text(e->rank, c, buf, len);
}

/* Values a run can use: weights and moments finite, an optimizer state
 * declared never negative (Adam's second moment, a mean of squares) not
 * negative, a generator state not all zeros (the
 * one state xoshiro never leaves). A NaN weight would otherwise load, and
 * the clamped exp of the kernels would turn it into finite nonsense that no
 * later check catches. */
static int check_values(struct gr_ctx *ctx, const char *name, const struct gr_ckpt_entry *e, const uint8_t *src) {
    char where[96];
    if (strcmp(e->dtype, "F32") == 0) {
        int second_moment = e->never_negative != NULL;
        for (uint64_t i = 0; i < e->bytes / 4; i++) {
            float v;
            memcpy(&v, src + 4 * i, 4);
            if (isfinite(v) && !(second_moment && v < 0)) continue;
            return gr_fail(ctx, "%s: tensor '%s' holds %g at %s (element %llu); %s%s", name, e->name, (double)v,
                           coords(e, i, where, sizeof where), (unsigned long long)i,
                           isfinite(v) ? e->never_negative : "a checkpoint's values must be finite",
                           isfinite(v) ? " is never negative" : "");
        }
    } else if (strcmp(e->name, "rng") == 0) {
        uint64_t any = 0;
        for (size_t b = 0; b < e->bytes; b++) any |= src[b];
        if (!any) return gr_fail(ctx, "%s: tensor 'rng' is all zeros, a state the generator never reaches", name);
    }
    return 0;
}

/* The tensors of a training run's state, which eval and predict skip. */
static int is_run_state(const char *key) {
    return strncmp(key, "optim/", 6) == 0 || strncmp(key, "best/", 5) == 0 || strcmp(key, "rng") == 0 ||
           strcmp(key, "data/order") == 0;
}

/* optim/<state>/<node> of a parameter the optimizer does not update:
 * written by graphrun before the optimizer skipped untrained parameters
 * (`trainable: false`), and ignored. */
static int is_untrained_moment(const struct gr_session *s, const char *key) {
    const char *slash = strncmp(key, "optim/", 6) == 0 ? strchr(key + 6, '/') : NULL;
    int i = slash ? gr_graph_find(&s->g, slash + 1) : -1;
    return i >= 0 && (s->g.nodes[i].op->flags & GR_OP_PARAM) && !gr_node_is_trainable(&s->g, i);
}

/* The sample order must be a permutation of the ns training samples. */
static int check_order(struct gr_ctx *ctx, const char *name, const uint8_t *data, const struct tinfo *order,
                       int64_t ns) {
    uint8_t *seen = gr_calloc(ctx, (size_t)(ns ? ns : 1), 1);
    if (!seen) return -1;
    for (int64_t i = 0; i < ns; i++) {
        int32_t v;
        memcpy(&v, data + order->b + 4 * (uint64_t)i, 4);
        if (v < 0 || v >= ns || seen[v]) {
            gr_free(ctx, seen);
            return gr_fail(ctx, "%s: data/order is not an order of the %lld training samples", name, (long long)ns);
        }
        seen[v] = 1;
    }
    gr_free(ctx, seen);
    return 0;
}

/* One reading of a checkpoint: the file, and what has been learnt so far. */
struct reading {
    struct gr_session *s;
    struct gr_ctx *ctx;
    const char *name;
    const uint8_t *buf, *data;
    uint64_t hl, data_len;
    json_t *root, *meta;
    size_t n_tensors;
    int full; /* a training session: the whole run state, else parameters */
    int64_t step, t_opt, pos, epoch, log_n;
    double log_sum;
    struct gr_ckpt_run run; /* the rest of a training run's metadata */
    struct gr_ckpt_entry *e;
    struct tinfo *ti;
    int n;
};

/* The length, the JSON header, every tensor entry well formed and together
 * covering the data exactly once, metadata of strings. */
static int read_layout(struct reading *r, size_t len) {
    const char *name = r->name;
    struct gr_ctx *ctx = r->ctx;
    if (len < 8) return gr_fail(ctx, "%s: too short for a checkpoint (%zu bytes)", name, len);
    for (int b = 0; b < 8; b++) r->hl |= (uint64_t)r->buf[b] << (8 * b);
    if (r->hl > GR_CKPT_MAX_HEADER || r->hl > len - 8)
        return gr_fail(ctx, "%s: header length %llu does not fit the %zu-byte file", name, (unsigned long long)r->hl,
                       len);
    json_error_t jerr;
    r->root = json_loadb((const char *)r->buf + 8, (size_t)r->hl, JSON_REJECT_DUPLICATES, &jerr);
    if (!r->root) return gr_fail(ctx, "%s: header is not valid JSON: %s (byte %d)", name, jerr.text, jerr.position);
    r->data = r->buf + 8 + r->hl;
    r->data_len = len - 8 - r->hl;
    if (!json_is_object(r->root)) return gr_fail(ctx, "%s: header is not a JSON object", name);
    size_t count = json_object_size(r->root);
    struct span *spans = gr_calloc(ctx, count ? count : 1, sizeof *spans);
    if (!spans) return -1;
    const char *key;
    json_t *val;
    int rc = 0;
    json_object_foreach(r->root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            r->meta = val;
            continue;
        }
        struct tinfo t;
        if ((rc = read_entry(ctx, name, key, val, r->data_len, &t))) break;
        spans[r->n_tensors].b = t.b;
        spans[r->n_tensors++].e = t.e;
    }
    if (rc == 0) rc = check_coverage(ctx, name, spans, r->n_tensors, r->data_len);
    gr_free(ctx, spans);
    if (rc) return -1;
    if (!json_is_object(r->meta)) return gr_fail(ctx, "%s: no __metadata__; not a graphrun checkpoint", name);
    json_object_foreach(r->meta, key, val) {
        if (!json_is_string(val)) return gr_fail(ctx, "%s: metadata '%s' is not a string", name, key);
    }
    return 0;
}

/* The format, then the checksum over every byte: nothing of the header is
 * used before this. */
static int read_checksum(struct reading *r, unsigned flags) {
    const char *name = r->name;
    struct gr_ctx *ctx = r->ctx;
    const char *format = json_string_value(json_object_get(r->meta, "format"));
    if (format && strcmp(format, GR_CKPT_FORMAT_1) == 0)
        return gr_fail(ctx, "%s: written by an older graphrun (format %s, whose checksum does not cover its header): "
                            "its step, data position and tensor offsets cannot be verified, so it is not used; train "
                            "again to make a checkpoint in format %s",
                       name, GR_CKPT_FORMAT_1, GR_CKPT_FORMAT);
    if (!format || strcmp(format, GR_CKPT_FORMAT) != 0)
        return gr_fail(ctx, "%s: format '%.40s' is not %s", name, format ? format : "(none)", GR_CKPT_FORMAT);
    if (flags & GR_CKPT_NO_CRC) return 0;
    const char *crc_text = json_string_value(json_object_get(r->meta, "crc32"));
    long crc_at = crc_text && strlen(crc_text) == 8 ? gr_ckpt_crc_position(r->buf + 8, (size_t)r->hl, crc_text) : -1;
    if (crc_at < 0)
        return gr_fail(ctx, "%s: metadata crc32 is not 8 hex digits written once: the checkpoint is corrupt", name);
    char want[16];
    snprintf(want, sizeof want, "%08lx",
             (unsigned long)(crc32_z(gr_ckpt_header_crc(r->buf, (size_t)r->hl, (size_t)crc_at), r->data,
                                     (size_t)r->data_len) & 0xffffffffUL));
    if (strcmp(crc_text, want) != 0)
        return gr_fail(ctx, "%s: checksum mismatch (the file says %.16s, its bytes give %s): the checkpoint is corrupt",
                       name, crc_text, want);
    return 0;
}

/* The run's position (step, optimizer steps, data cursor), the metrics
 * window, and for a training session the optimizer it was written by. */
static int read_meta(struct reading *r) {
    const char *name = r->name;
    struct gr_ctx *ctx = r->ctx;
    json_t *meta = r->meta;
    if (meta_int(ctx, name, meta, "step", 0, INT64_MAX / 2, &r->step) ||
        meta_int(ctx, name, meta, "optim_t", 0, INT64_MAX / 2, &r->t_opt) ||
        meta_int(ctx, name, meta, "data_pos", 0, r->full ? r->s->sampler.n : INT32_MAX, &r->pos) ||
        meta_int(ctx, name, meta, "data_epoch", 0, INT64_MAX / 2, &r->epoch))
        return -1;
    /* the metrics window: the losses since the last row and their count */
    if (json_object_get(meta, "log_n") || json_object_get(meta, "log_sum")) {
        const char *text = json_string_value(json_object_get(meta, "log_sum"));
        char *end = NULL;
        if (text) r->log_sum = strtod(text, &end);
        if (meta_int(ctx, name, meta, "log_n", 0, INT64_MAX / 2, &r->log_n)) return -1;
        if (!text || !*text || *end || !isfinite(r->log_sum))
            return gr_fail(ctx, "%s: metadata 'log_sum' is not a finite number: '%.40s'", name, text ? text : "(none)");
    }
    const char *opt = json_string_value(json_object_get(meta, "optimizer"));
    if (r->full && (!opt || strcmp(opt, gr_ckpt_optim_name(r->s)) != 0))
        return gr_fail(ctx, "%s: written by optimizer '%.20s', but this run uses '%s'", name, opt ? opt : "(none)",
                       gr_ckpt_optim_name(r->s));
    return r->full ? gr_ckpt_get_run(ctx, name, meta, r->s, r->step, &r->run) : 0;
}

/* The tensors this session needs, with this graph's shapes, and nothing
 * else; their values usable. */
static int read_tensors(struct reading *r) {
    const char *name = r->name;
    struct gr_ctx *ctx = r->ctx;
    if (gr_ckpt_collect(r->s, &r->e, &r->n)) return -1;
    if (!(r->ti = gr_calloc(ctx, (size_t)r->n, sizeof *r->ti))) return -1;
    for (int i = 0; i < r->n; i++) {
        const struct gr_ckpt_entry *e = &r->e[i];
        if (want_tensor(ctx, name, r->root, e->name, e->dtype, e->rank, e->dim, r->data_len, &r->ti[i],
                        strncmp(e->name, "param/", 6) == 0 ? "a parameter of this graph" : "run state"))
            return -1;
    }
    if (r->n_tensors != (size_t)r->n) {
        const char *key;
        json_t *val;
        json_object_foreach(r->root, key, val) {
            int known = strcmp(key, "__metadata__") == 0 || (!r->full && is_run_state(key)) ||
                        is_untrained_moment(r->s, key);
            for (int i = 0; i < r->n && !known; i++) known = strcmp(key, r->e[i].name) == 0;
            if (!known)
                return gr_fail(ctx, "%s: tensor '%s' belongs to no part of this graph; is it a checkpoint of another "
                                    "graph?",
                               name, key);
        }
    }
    if (r->full && check_order(ctx, name, r->data, &r->ti[r->n - 1], r->s->sampler.n)) return -1;
    for (int i = 0; i < r->n; i++)
        if (check_values(ctx, name, &r->e[i], r->data + r->ti[i].b)) return -1;
    return 0;
}

static void apply(struct reading *r) {
    struct gr_session *s = r->s;
    for (int i = 0; i < r->n; i++) memcpy(r->e[i].data, r->data + r->ti[i].b, r->e[i].bytes);
    if (!r->full) return;
    s->step = r->step;
    s->opt.t = r->t_opt;
    s->sampler.pos = r->pos;
    s->sampler.epoch = r->epoch;
    s->log_sum = r->log_sum;
    s->log_n = r->log_n;
    gr_ckpt_apply_run(s, &r->run);
}

int gr_checkpoint_parse(struct gr_session *s, const char *name, const uint8_t *buf, size_t len, unsigned flags,
                        int64_t *step_out) {
    struct reading r = {.s = s, .ctx = s->ctx, .name = name, .buf = buf, .full = gr_ckpt_holds_run_state(s)};
    int rc = read_layout(&r, len) || read_checksum(&r, flags) || read_meta(&r) || read_tensors(&r) ? -1 : 0;
    if (rc == 0 && (flags & GR_CKPT_APPLY)) apply(&r);
    if (rc == 0 && step_out) *step_out = r.step;
    gr_free(s->ctx, r.ti);
    gr_free(s->ctx, r.e);
    json_decref(r.root);
    return rc;
}

int gr_checkpoint_load(struct gr_session *s, const char *path, int64_t *step) {
    struct gr_ctx *ctx = s->ctx;
    struct stat st;
    FILE *f = gr_fopen_input(ctx, path, &st);
    if (!f) return -1;
    /* parameters, the optimizer's states, the best parameters, the order
     * and a header: no checkpoint of this run is larger than this (eval and
     * predict do not know the run's training set: at most INT32_MAX
     * samples) */
    size_t samples = gr_ckpt_holds_run_state(s) ? (size_t)s->sampler.n : (size_t)INT32_MAX;
    size_t expect = (size_t)s->g.param_floats * 4 * (2 + GR_OPTIM_MAX_STATE) + samples * 4 +
                    (size_t)GR_CKPT_MAX_HEADER + 1024;
    if ((size_t)st.st_size > expect) {
        fclose(f);
        return gr_fail(ctx, "%s: %lld bytes is too large for a checkpoint of this graph", path, (long long)st.st_size);
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = gr_alloc(ctx, len ? len : 1);
    if (!buf) {
        fclose(f);
        return -1;
    }
    size_t got = fread(buf, 1, len, f);
    fclose(f);
    int rc = got == len ? gr_checkpoint_parse(s, path, buf, len, GR_CKPT_APPLY, step) : gr_fail(ctx, "%s: read error", path);
    gr_free(ctx, buf);
    return rc;
}
