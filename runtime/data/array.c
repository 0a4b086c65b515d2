#include "runtime/data/array.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/base/ctx.h"

static const char *const type_names[GR_ARRAY_TYPE_COUNT] = {"uint8", "int32", "float32"};
static const size_t type_sizes[GR_ARRAY_TYPE_COUNT] = {1, 4, 4};

static const struct {
    const char *name;
    size_t size;
    enum gr_array_type stored;
} elems[GR_ELEM_COUNT] = {
    [GR_ELEM_BOOL] = {"bool", 1, GR_ARRAY_U8},    [GR_ELEM_U8] = {"uint8", 1, GR_ARRAY_U8},
    [GR_ELEM_I8] = {"int8", 1, GR_ARRAY_I32},     [GR_ELEM_U16] = {"uint16", 2, GR_ARRAY_I32},
    [GR_ELEM_I16] = {"int16", 2, GR_ARRAY_I32},   [GR_ELEM_U32] = {"uint32", 4, GR_ARRAY_I32},
    [GR_ELEM_I32] = {"int32", 4, GR_ARRAY_I32},   [GR_ELEM_U64] = {"uint64", 8, GR_ARRAY_I32},
    [GR_ELEM_I64] = {"int64", 8, GR_ARRAY_I32},   [GR_ELEM_F32] = {"float32", 4, GR_ARRAY_F32},
    [GR_ELEM_F64] = {"float64", 8, GR_ARRAY_F32}, [GR_ELEM_TEXT] = {"text", 0, GR_ARRAY_F32},
};
_Static_assert(sizeof elems / sizeof elems[0] == GR_ELEM_COUNT, "every element type has a row");

const char *gr_array_type_name(enum gr_array_type t) {
    GR_ASSERT(t >= 0 && t < GR_ARRAY_TYPE_COUNT);
    return type_names[t];
}

size_t gr_array_type_size(enum gr_array_type t) {
    GR_ASSERT(t >= 0 && t < GR_ARRAY_TYPE_COUNT);
    return type_sizes[t];
}

const char *gr_elem_name(enum gr_elem e) {
    GR_ASSERT(e >= 0 && e < GR_ELEM_COUNT);
    return elems[e].name;
}

size_t gr_elem_size(enum gr_elem e) {
    GR_ASSERT(e >= 0 && e < GR_ELEM_COUNT);
    return elems[e].size;
}

enum gr_array_type gr_elem_stored(enum gr_elem e) {
    GR_ASSERT(e >= 0 && e < GR_ELEM_COUNT);
    return elems[e].stored;
}

const char *gr_endian_name(enum gr_endian e) {
    return e == GR_ENDIAN_LITTLE ? "little" : e == GR_ENDIAN_BIG ? "big" : "none";
}

int64_t gr_array_count(const struct gr_array_info *a) {
    int64_t n = 1;
    for (int i = 0; i < a->rank; i++) n *= a->dim[i];
    return n;
}

size_t gr_array_bytes(const struct gr_array_info *a) {
    return (size_t)gr_array_count(a) * gr_array_type_size(a->type);
}

static void shape_text(char *buf, size_t len, int rank, const int64_t *dims) {
    size_t at = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < rank && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (at < len) snprintf(buf + at, len - at, "]");
}

const char *gr_array_sample_text(const struct gr_array_info *a, char *buf, size_t len) {
    shape_text(buf, len, a->rank - 1, a->dim + 1);
    return buf;
}

int gr_array_set_shape(struct gr_ctx *ctx, const char *where, struct gr_array_info *a, int rank,
                       const int64_t *dims) {
    if (rank == 0) return gr_fail(ctx, "%s: a 0-d array (shape ()) is not a dataset: expected [N, ...]", where);
    if (rank < 0 || rank > GR_ARRAY_MAX_RANK)
        return gr_fail(ctx, "%s: %d axes, more than the %d graphrun reads", where, rank, GR_ARRAY_MAX_RANK);
    char shape[32 * GR_ARRAY_MAX_RANK];
    shape_text(shape, sizeof shape, rank, dims);
    /* the file's bytes or the stored ones, whichever is more */
    size_t stored = gr_array_type_size(a->type), in_file = gr_elem_size(a->elem);
    uint64_t bytes = in_file > stored ? in_file : stored;
    for (int i = 0; i < rank; i++) {
        if (dims[i] <= 0) return gr_fail(ctx, "%s: dimension %d of shape %s is zero", where, i, shape);
        if ((uint64_t)dims[i] > GR_ARRAY_MAX_BYTES / bytes)
            return gr_fail(ctx, "%s: shape %s claims more than %llu bytes of data", where, shape,
                           (unsigned long long)GR_ARRAY_MAX_BYTES);
        bytes *= (uint64_t)dims[i];
    }
    a->rank = rank;
    memcpy(a->dim, dims, (size_t)rank * sizeof *dims);
    return 0;
}

/* ---- decoding ------------------------------------------------------------ */

static uint16_t ld16(const uint8_t *p, int big) {
    return (uint16_t)(big ? p[0] << 8 | p[1] : p[1] << 8 | p[0]);
}

static uint32_t ld32(const uint8_t *p, int big) {
    if (big) return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint64_t ld64(const uint8_t *p, int big) {
    uint64_t hi = ld32(p + (big ? 0 : 4), big), lo = ld32(p + (big ? 4 : 0), big);
    return hi << 32 | lo;
}

enum bad_kind { BAD_NONE, BAD_BOOL, BAD_INT, BAD_UINT, BAD_NAN, BAD_INF, BAD_RANGE };

struct bad {
    enum bad_kind kind;
    size_t at;
    int64_t i;
    uint64_t u;
    double f;
};

#define FAIL_AT(k, field, v)                                                   \
    do {                                                                       \
        bad->kind = (k);                                                       \
        bad->at = j;                                                           \
        bad->field = (v);                                                      \
        return -1;                                                             \
    } while (0)

/* Integers to int32. src and out may be the same memory (same-size types). */
static int to_i32(enum gr_elem e, int big, const uint8_t *src, size_t n, int32_t *out, struct bad *bad) {
    for (size_t j = 0; j < n; j++) {
        int64_t v;
        switch (e) {
        case GR_ELEM_I8: v = (int8_t)src[j]; break;
        case GR_ELEM_U16: v = ld16(src + 2 * j, big); break;
        case GR_ELEM_I16: v = (int16_t)ld16(src + 2 * j, big); break;
        case GR_ELEM_U32: v = ld32(src + 4 * j, big); break;
        case GR_ELEM_I32: v = (int32_t)ld32(src + 4 * j, big); break;
        case GR_ELEM_U64: {
            uint64_t u = ld64(src + 8 * j, big);
            if (u > INT32_MAX) FAIL_AT(BAD_UINT, u, u);
            v = (int64_t)u;
            break;
        }
        default:
            GR_ASSERT(e == GR_ELEM_I64);
            v = (int64_t)ld64(src + 8 * j, big);
        }
        if (v < INT32_MIN || v > INT32_MAX) FAIL_AT(BAD_INT, i, v);
        out[j] = (int32_t)v;
    }
    return 0;
}

static int to_f32(enum gr_elem e, int big, const uint8_t *src, size_t n, float *out, struct bad *bad) {
    for (size_t j = 0; j < n; j++) {
        float f;
        if (e == GR_ELEM_F32) {
            uint32_t bits = ld32(src + 4 * j, big);
            memcpy(&f, &bits, 4);
            if (isnan(f)) FAIL_AT(BAD_NAN, f, f);
            if (isinf(f)) FAIL_AT(BAD_INF, f, f);
        } else {
            uint64_t bits = ld64(src + 8 * j, big);
            double x;
            memcpy(&x, &bits, 8);
            if (isnan(x)) FAIL_AT(BAD_NAN, f, x);
            if (isinf(x)) FAIL_AT(BAD_INF, f, x);
            f = (float)x;
            if (isinf(f)) FAIL_AT(BAD_RANGE, f, x);
        }
        out[j] = f;
    }
    return 0;
}

static int to_u8(enum gr_elem e, const uint8_t *src, size_t n, uint8_t *out, struct bad *bad) {
    if (e == GR_ELEM_BOOL)
        for (size_t j = 0; j < n; j++)
            if (src[j] > 1) FAIL_AT(BAD_BOOL, u, src[j]);
    if (out != src) memcpy(out, src, n);
    return 0;
}

static int convert(const struct gr_array_info *a, const uint8_t *src, size_t n, void *out, struct bad *bad) {
    int big = a->endian == GR_ENDIAN_BIG;
    if (a->type == GR_ARRAY_U8) return to_u8(a->elem, src, n, out, bad);
    if (a->type == GR_ARRAY_I32) return to_i32(a->elem, big, src, n, out, bad);
    GR_ASSERT(a->type == GR_ARRAY_F32);
    return to_f32(a->elem, big, src, n, out, bad);
}

/* The C-order flat index of the element at file position f. */
static int64_t flat_index(const struct gr_array_decoder *d, int64_t f) {
    if (!d->fortran) return f;
    int64_t c = 0;
    for (int k = 0; k < d->a->rank; k++) {
        c += f % d->a->dim[k] * d->cstride[k];
        f /= d->a->dim[k];
    }
    return c;
}

static int refuse(struct gr_ctx *ctx, const struct gr_array_decoder *d, const struct bad *bad, int64_t f) {
    long long at = (long long)flat_index(d, f);
    switch (bad->kind) {
    case BAD_BOOL:
        return gr_fail(ctx, "%s: byte %llu at flat index %lld is not a bool (0 or 1)", d->where,
                       (unsigned long long)bad->u, at);
    case BAD_INT:
        return gr_fail(ctx, "%s: %s value %lld at flat index %lld does not fit in int32", d->where,
                       gr_elem_name(d->a->elem), (long long)bad->i, at);
    case BAD_UINT:
        return gr_fail(ctx, "%s: %s value %llu at flat index %lld does not fit in int32", d->where,
                       gr_elem_name(d->a->elem), (unsigned long long)bad->u, at);
    case BAD_NAN: return gr_fail(ctx, "%s: NaN at flat index %lld", d->where, at);
    case BAD_INF: return gr_fail(ctx, "%s: %sinfinity at flat index %lld", d->where, bad->f < 0 ? "-" : "", at);
    default:
        GR_ASSERT(bad->kind == BAD_RANGE);
        return gr_fail(ctx, "%s: float64 value %.17g at flat index %lld is beyond float32's range", d->where,
                       bad->f, at);
    }
}

void gr_decoder_init(struct gr_array_decoder *d, const struct gr_array_info *a, const char *where, int fortran,
                     void *dst) {
    memset(d, 0, sizeof *d);
    d->a = a;
    d->where = where;
    d->dst = dst;
    d->count = gr_array_count(a);
    d->fortran = fortran && a->rank > 1; /* one axis reads the same either way */
    if (d->fortran) {
        d->cstride[a->rank - 1] = 1;
        for (int k = a->rank - 2; k >= 0; k--) d->cstride[k] = d->cstride[k + 1] * a->dim[k + 1];
    }
}

void *gr_decoder_inplace(struct gr_array_decoder *d, size_t *n) {
    size_t s = gr_array_type_size(d->a->type);
    if (d->fortran || gr_elem_size(d->a->elem) != s) return NULL;
    *n = (size_t)(d->count - d->done);
    return d->dst + (size_t)d->done * s;
}

/* Fortran order: element `done` goes to C offset sum(idx[k] * cstride[k]),
 * with idx counting axis 0 fastest. */
static void scatter(struct gr_array_decoder *d, const uint8_t *src, size_t n, size_t s) {
    const struct gr_array_info *a = d->a;
    for (size_t j = 0; j < n; j++) {
        int64_t c = 0;
        for (int k = 0; k < a->rank; k++) c += d->idx[k] * d->cstride[k];
        memcpy(d->dst + (size_t)c * s, src + j * s, s);
        for (int k = 0; k < a->rank && ++d->idx[k] == a->dim[k]; k++) d->idx[k] = 0;
    }
}

int gr_decoder_put(struct gr_ctx *ctx, struct gr_array_decoder *d, const void *src, size_t n) {
    GR_ASSERT((int64_t)n <= d->count - d->done);
    size_t s = gr_array_type_size(d->a->type), es = gr_elem_size(d->a->elem);
    const uint8_t *in = src;
    struct bad bad = {0};
    if (!d->fortran) {
        if (convert(d->a, in, n, d->dst + (size_t)d->done * s, &bad)) return refuse(ctx, d, &bad, d->done + (int64_t)bad.at);
        d->done += (int64_t)n;
        return 0;
    }
    uint8_t tmp[4096];
    size_t per = sizeof tmp / s;
    for (size_t j = 0; j < n; j += per) {
        size_t m = n - j < per ? n - j : per;
        if (convert(d->a, in + j * es, m, tmp, &bad)) return refuse(ctx, d, &bad, d->done + (int64_t)bad.at);
        scatter(d, tmp, m, s);
        d->done += (int64_t)m;
    }
    return 0;
}
