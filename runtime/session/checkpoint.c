#include "runtime/session/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "ops/core.h"
#include "runtime/base/ctx.h"
#include "runtime/base/fs.h"
#include "runtime/session/state.h"

/* Format 2's crc32 covers the whole file; format 1's covered only the data. */
#define FORMAT "graphrun-checkpoint-2"
#define FORMAT_1 "graphrun-checkpoint-1"
#define MAX_HEADER ((uint64_t)64 << 20)

/* ---- what a checkpoint holds --------------------------------------------- */

struct entry {
    char name[160];
    const char *dtype;
    int rank;
    int64_t dim[GR_MAX_DIMS];
    void *data; /* where the values live in the session */
    const char *never_negative; /* an optimizer state's "Adam's second moment", or NULL */
    char owner[96];
    size_t bytes;
};

/* Whether the session holds a training run's state (optimizer, sampler), or
 * only parameters (eval, predict). */
static int holds_run_state(const struct gr_session *s) { return s->mode == GR_SESSION_TRAIN; }

/* The session's state as a list of tensors (pointers into the session): the
 * parameters, then, in a training session, the optimizer's moments, the
 * generator and the sample order. */
static int collect(struct gr_session *s, struct entry **out, int *n_out) {
    struct gr_graph *g = &s->g;
    int n_params = 0;
    for (int i = 0; i < g->n; i++) n_params += (g->nodes[i].op->flags & GR_OP_PARAM) != 0;
    const struct gr_optim_desc *od = s->opt.cfg.desc;
    int n_kinds = holds_run_state(s) && od ? 1 + od->n_state : 1;
    int cap = n_kinds * n_params + 2;
    struct entry *e = gr_calloc(s->ctx, (size_t)cap, sizeof *e);
    if (!e) return -1;
    int n = 0;
    /* param/<node>, then optim/<state>/<node> for each state the optimizer keeps */
    for (int k = 0; k < n_kinds; k++) {
        float *base = k == 0 ? g->param : s->opt.state[k - 1];
        for (int i = 0; i < g->n; i++) {
            const struct gr_node *nd = &g->nodes[i];
            if (!(nd->op->flags & GR_OP_PARAM)) continue;
            if (k == 0) snprintf(e[n].name, sizeof e[n].name, "param/%s", nd->name);
            else snprintf(e[n].name, sizeof e[n].name, "optim/%s/%s", od->state[k - 1].name, nd->name);
            e[n].dtype = "F32";
            e[n].rank = nd->shape.rank;
            memcpy(e[n].dim, nd->shape.dim, sizeof e[n].dim);
            e[n].data = base + nd->param_offset;
            e[n].bytes = gr_shape_bytes(&nd->shape);
            if (k > 0 && (od->state[k - 1].flags & GR_OPTIM_STATE_NONNEGATIVE)) {
                snprintf(e[n].owner, sizeof e[n].owner, "%s's %s", od->title, od->state[k - 1].doc);
                e[n].never_negative = e[n].owner;
            }
            n++;
        }
    }
    if (!holds_run_state(s)) {
        *out = e;
        *n_out = n;
        return 0;
    }
    snprintf(e[n].name, sizeof e[n].name, "rng");
    e[n].dtype = "U64";
    e[n].rank = 1;
    e[n].dim[0] = 4;
    e[n].data = s->ctx->rng.s;
    e[n].bytes = sizeof s->ctx->rng.s;
    n++;
    snprintf(e[n].name, sizeof e[n].name, "data/order");
    e[n].dtype = "I32";
    e[n].rank = 1;
    e[n].dim[0] = s->sampler.n;
    e[n].data = s->sampler.order;
    e[n].bytes = (size_t)s->sampler.n * sizeof(int32_t);
    n++;
    *out = e;
    *n_out = n;
    return 0;
}

static const char *optim_name(const struct gr_session *s) { return s->cfg->optim.desc->name; }

/* ---- the checksum --------------------------------------------------------- */

/* crc32 (metadata, 8 hex digits) is the CRC-32 of the whole file: the
 * length, the header (padding included) and the data, with the 8 digits of
 * crc32 itself read as '0'. In valid JSON the bytes `"crc32":"` can only be
 * a key crc32 with a string value, and keys are unique in each object, so
 * the digits are found by searching the raw header. */
static const char crc_key[] = "\"crc32\":\"";

/* Where the 8 digits `digits` sit in the header, or -1 unless exactly once. */
static long crc_position(const uint8_t *header, size_t len, const char *digits) {
    char needle[32];
    snprintf(needle, sizeof needle, "%s%.8s\"", crc_key, digits);
    size_t n = strlen(needle);
    long at = -1;
    for (size_t i = 0; i + n <= len; i++)
        if (header[i] == '"' && memcmp(header + i, needle, n) == 0) {
            if (at >= 0) return -1;
            at = (long)(i + sizeof crc_key - 1);
        }
    return at;
}

/* CRC-32 of the 8 + hl bytes of length and header, with the crc32 digits at
 * header offset `at` read as '0' (the data's CRC continues from it). */
static uLong header_crc(const uint8_t *len_and_header, size_t hl, size_t at) {
    static const uint8_t zeros[8] = {'0', '0', '0', '0', '0', '0', '0', '0'};
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32_z(crc, len_and_header, 8 + at);
    crc = crc32_z(crc, zeros, 8);
    return crc32_z(crc, len_and_header + 8 + at + 8, hl - at - 8);
}

/* ---- saving ---------------------------------------------------------------- */


static json_t *header_json(struct gr_session *s, const struct entry *e, int n, int64_t step) {
    json_t *root = json_object();
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        json_t *t = json_object(), *shape = json_array();
        for (int d = 0; d < e[i].rank; d++) json_array_append_new(shape, json_integer(e[i].dim[d]));
        json_object_set_new(t, "dtype", json_string(e[i].dtype));
        json_object_set_new(t, "shape", shape);
        json_object_set_new(t, "data_offsets", json_pack("[I, I]", (json_int_t)off, (json_int_t)(off + e[i].bytes)));
        json_object_set_new(root, e[i].name, t);
        off += e[i].bytes;
    }
    char num[32];
    json_t *meta = json_object();
    json_object_set_new(meta, "format", json_string(FORMAT));
#define META_INT(key, v)                                                                                              \
    snprintf(num, sizeof num, "%lld", (long long)(v));                                                                 \
    json_object_set_new(meta, key, json_string(num))
    META_INT("step", step);
    META_INT("optim_t", s->opt.t);
    META_INT("data_pos", s->sampler.pos);
    META_INT("data_epoch", s->sampler.epoch);
    META_INT("log_n", s->log_n);
#undef META_INT
    snprintf(num, sizeof num, "%.17g", s->log_sum); /* a double survives %.17g exactly */
    json_object_set_new(meta, "log_sum", json_string(num));
    json_object_set_new(meta, "optimizer", json_string(optim_name(s)));
    json_object_set_new(meta, "config", json_string(s->cfg->text ? s->cfg->text : ""));
    json_object_set_new(meta, "crc32", json_string("00000000")); /* filled in once the file's bytes are known */
    json_object_set_new(root, "__metadata__", meta);
    return root;
}

int gr_checkpoint_save(struct gr_session *s, int64_t step, const char *path) {
    struct gr_ctx *ctx = s->ctx;
    struct entry *e = NULL;
    int n = 0, fd = -1, rc = -1;
    char *header = NULL;
    json_t *root = NULL;
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return gr_fail(ctx, "%s: path too long", path);
    if (gr_make_parent(ctx, path) || collect(s, &e, &n)) goto out;
    root = header_json(s, e, n, step);
    char *text = json_dumps(root, JSON_COMPACT);
    if (!text) {
        gr_fail(ctx, "%s: cannot encode the checkpoint header", path);
        goto out;
    }
    /* the length, then the header padded with spaces to a multiple of 8, as
     * safetensors writers do: one buffer, so the checksum can cover it */
    size_t hl = strlen(text), padded = (hl + 7) / 8 * 8;
    header = malloc(8 + padded);
    if (!header) {
        free(text);
        gr_fail(ctx, "%s: out of memory encoding the checkpoint header", path);
        goto out;
    }
    for (int b = 0; b < 8; b++) header[b] = (char)(uint8_t)((uint64_t)padded >> (8 * b));
    memcpy(header + 8, text, hl);
    memset(header + 8 + hl, ' ', padded - hl);
    free(text);
    long at = crc_position((const uint8_t *)header + 8, padded, "00000000");
    GR_ASSERT(at >= 0);
    uLong crc = header_crc((const uint8_t *)header, padded, (size_t)at);
    for (int i = 0; i < n; i++) crc = crc32_z(crc, e[i].data, e[i].bytes);
    char digits[9];
    snprintf(digits, sizeof digits, "%08lx", (unsigned long)(crc & 0xffffffffUL));
    memcpy(header + 8 + at, digits, 8);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        gr_fail(ctx, "%s: cannot write: %s", tmp, strerror(errno));
        goto out;
    }
    uint64_t written = 0;
    if (gr_write_all(ctx, fd, header, 8 + padded, tmp, &written)) goto out;
    for (int i = 0; i < n; i++)
        if (gr_write_all(ctx, fd, e[i].data, e[i].bytes, tmp, &written)) goto out;
    rc = gr_commit_file(ctx, fd, tmp, path);
    fd = -1;
    goto done;
out:
    if (fd >= 0) close(fd);
    unlink(tmp);
done:
    free(header);
    json_decref(root);
    gr_free(ctx, e);
    return rc;
}

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
static const char *coords(const struct entry *e, uint64_t at, char *buf, size_t len) {
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
static int check_values(struct gr_ctx *ctx, const char *name, const struct entry *e, const uint8_t *src) {
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
    return strncmp(key, "optim/", 6) == 0 || strcmp(key, "rng") == 0 || strcmp(key, "data/order") == 0;
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

int gr_checkpoint_parse(struct gr_session *s, const char *name, const uint8_t *buf, size_t len, unsigned flags,
                        int64_t *step_out) {
    struct gr_ctx *ctx = s->ctx;
    if (len < 8) return gr_fail(ctx, "%s: too short for a checkpoint (%zu bytes)", name, len);
    uint64_t hl = 0;
    for (int b = 0; b < 8; b++) hl |= (uint64_t)buf[b] << (8 * b);
    if (hl > MAX_HEADER || hl > len - 8)
        return gr_fail(ctx, "%s: header length %llu does not fit the %zu-byte file", name, (unsigned long long)hl, len);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)hl, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return gr_fail(ctx, "%s: header is not valid JSON: %s (byte %d)", name, jerr.text, jerr.position);
    const uint8_t *data = buf + 8 + hl;
    uint64_t data_len = len - 8 - hl;
    int rc = -1, n = 0;
    struct span *spans = NULL;
    struct entry *e = NULL;
    struct tinfo *ti = NULL;
    if (!json_is_object(root)) {
        gr_fail(ctx, "%s: header is not a JSON object", name);
        goto out;
    }
    /* every entry well formed, together covering the data exactly once */
    size_t count = json_object_size(root);
    spans = gr_calloc(ctx, count ? count : 1, sizeof *spans);
    if (!spans) goto out;
    size_t n_spans = 0;
    const char *key;
    json_t *val, *meta = NULL;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            meta = val;
            continue;
        }
        struct tinfo t;
        if (read_entry(ctx, name, key, val, data_len, &t)) goto out;
        spans[n_spans].b = t.b;
        spans[n_spans].e = t.e;
        n_spans++;
    }
    qsort(spans, n_spans, sizeof *spans, cmp_span);
    uint64_t at = 0;
    for (size_t i = 0; i < n_spans; i++) {
        if (spans[i].b != at) {
            gr_fail(ctx, "%s: tensor data %s at byte %llu", name, spans[i].b < at ? "overlaps" : "has a hole",
                    (unsigned long long)at);
            goto out;
        }
        at = spans[i].e;
    }
    if (at != data_len) {
        gr_fail(ctx, "%s: %llu bytes of data, but the tensors cover %llu", name, (unsigned long long)data_len,
                (unsigned long long)at);
        goto out;
    }
    if (!json_is_object(meta)) {
        gr_fail(ctx, "%s: no __metadata__; not a graphrun checkpoint", name);
        goto out;
    }
    json_object_foreach(meta, key, val) {
        if (!json_is_string(val)) {
            gr_fail(ctx, "%s: metadata '%s' is not a string", name, key);
            goto out;
        }
    }
    const char *format = json_string_value(json_object_get(meta, "format"));
    if (format && strcmp(format, FORMAT_1) == 0) {
        gr_fail(ctx, "%s: written by an older graphrun (format %s, whose checksum does not cover its header): its "
                     "step, data position and tensor offsets cannot be verified, so it is not used; train again to "
                     "make a checkpoint in format %s",
                name, FORMAT_1, FORMAT);
        goto out;
    }
    if (!format || strcmp(format, FORMAT) != 0) {
        gr_fail(ctx, "%s: format '%.40s' is not %s", name, format ? format : "(none)", FORMAT);
        goto out;
    }
    /* nothing of the header is used before this: it is all checksummed */
    const char *crc_text = json_string_value(json_object_get(meta, "crc32"));
    long crc_at = crc_text && strlen(crc_text) == 8 ? crc_position(buf + 8, (size_t)hl, crc_text) : -1;
    if (crc_at < 0 && !(flags & GR_CKPT_NO_CRC)) {
        gr_fail(ctx, "%s: metadata crc32 is not 8 hex digits written once: the checkpoint is corrupt", name);
        goto out;
    }
    char want_crc[16] = "";
    if (crc_at >= 0)
        snprintf(want_crc, sizeof want_crc, "%08lx",
                 (unsigned long)(crc32_z(header_crc(buf, (size_t)hl, (size_t)crc_at), data, (size_t)data_len) &
                                 0xffffffffUL));
    if (!(flags & GR_CKPT_NO_CRC) && strcmp(crc_text, want_crc) != 0) {
        gr_fail(ctx, "%s: checksum mismatch (the file says %.16s, its bytes give %s): the checkpoint is corrupt", name,
                crc_text, want_crc);
        goto out;
    }
    /* a training session continues the run; eval and predict take only the
     * parameters, whatever optimizer or training data the run had */
    int full = holds_run_state(s);
    int64_t step, t_opt, pos, epoch;
    if (meta_int(ctx, name, meta, "step", 0, INT64_MAX / 2, &step) ||
        meta_int(ctx, name, meta, "optim_t", 0, INT64_MAX / 2, &t_opt) ||
        meta_int(ctx, name, meta, "data_pos", 0, full ? s->sampler.n : INT32_MAX, &pos) ||
        meta_int(ctx, name, meta, "data_epoch", 0, INT64_MAX / 2, &epoch))
        goto out;
    /* the metrics window; checkpoints from before it was saved have none,
     * and their resumed run's first row averages only the resumed steps */
    int64_t log_n = 0;
    double log_sum = 0;
    if (json_object_get(meta, "log_n") || json_object_get(meta, "log_sum")) {
        const char *text = json_string_value(json_object_get(meta, "log_sum"));
        char *end = NULL;
        if (text) log_sum = strtod(text, &end);
        if (meta_int(ctx, name, meta, "log_n", 0, INT64_MAX / 2, &log_n)) goto out;
        if (!text || !*text || *end || !isfinite(log_sum)) {
            gr_fail(ctx, "%s: metadata 'log_sum' is not a finite number: '%.40s'", name, text ? text : "(none)");
            goto out;
        }
    }
    const char *opt = json_string_value(json_object_get(meta, "optimizer"));
    if (full && (!opt || strcmp(opt, optim_name(s)) != 0)) {
        gr_fail(ctx, "%s: written by optimizer '%.20s', but this run uses '%s'", name, opt ? opt : "(none)",
                optim_name(s));
        goto out;
    }

    /* the tensors this run needs, with this graph's shapes; nothing extra */
    if (collect(s, &e, &n)) goto out;
    ti = gr_calloc(ctx, (size_t)n, sizeof *ti);
    if (!ti) goto out;
    for (int i = 0; i < n; i++)
        if (want_tensor(ctx, name, root, e[i].name, e[i].dtype, e[i].rank, e[i].dim, data_len, &ti[i],
                        strncmp(e[i].name, "param/", 6) == 0 ? "a parameter of this graph" : "run state"))
            goto out;
    if (n_spans != (size_t)n) {
        json_object_foreach(root, key, val) {
            int known = strcmp(key, "__metadata__") == 0 || (!full && is_run_state(key));
            for (int i = 0; i < n && !known; i++) known = strcmp(key, e[i].name) == 0;
            if (!known) {
                gr_fail(ctx, "%s: tensor '%s' belongs to no part of this graph; is it a checkpoint of another graph?",
                        name, key);
                goto out;
            }
        }
    }
    if (full && check_order(ctx, name, data, &ti[n - 1], s->sampler.n)) goto out;
    for (int i = 0; i < n; i++)
        if (check_values(ctx, name, &e[i], data + ti[i].b)) goto out;
    if (flags & GR_CKPT_APPLY) {
        for (int i = 0; i < n; i++) memcpy(e[i].data, data + ti[i].b, e[i].bytes);
        if (full) {
            s->opt.t = t_opt;
            s->sampler.pos = pos;
            s->sampler.epoch = epoch;
            s->log_sum = log_sum;
            s->log_n = log_n;
        }
    }
    if (step_out) *step_out = step;
    rc = 0;
out:
    gr_free(ctx, ti);
    gr_free(ctx, e);
    gr_free(ctx, spans);
    json_decref(root);
    return rc;
}

int gr_checkpoint_load(struct gr_session *s, const char *path, int64_t *step) {
    struct gr_ctx *ctx = s->ctx;
    struct stat st;
    if (stat(path, &st) != 0) return gr_fail(ctx, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return gr_fail(ctx, "%s: not a regular file", path);
    /* parameters, two moments, the order and a header: no checkpoint of
     * this run is larger than this (eval and predict do not know the run's
     * training set: at most INT32_MAX samples) */
    size_t samples = holds_run_state(s) ? (size_t)s->sampler.n : (size_t)INT32_MAX;
    size_t expect = (size_t)s->g.param_floats * 12 + samples * 4 + (size_t)MAX_HEADER + 1024;
    if ((size_t)st.st_size > expect)
        return gr_fail(ctx, "%s: %lld bytes is too large for a checkpoint of this graph", path, (long long)st.st_size);
    FILE *f = fopen(path, "rb");
    if (!f) return gr_fail(ctx, "%s: cannot open: %s", path, strerror(errno));
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
