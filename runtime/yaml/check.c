#include "runtime/yaml/check.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/base/text.h"

/* Quote a scalar for a message, shortened so one line stays one line. */
static const char *shown(const struct gr_ynode *n, char *buf, size_t len) {
    if (n->kind != GR_Y_SCALAR) {
        snprintf(buf, len, "%s", gr_ykind_name(n->kind));
        return buf;
    }
    size_t k = strcspn(n->str, "\n\r");
    if (k > 40) k = 40;
    snprintf(buf, len, "%s'%.*s%s'", n->quoted ? "string " : "", (int)k, n->str,
             k < strlen(n->str) ? "..." : "");
    return buf;
}

int gr_need_kind(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n, enum gr_ykind kind,
                 const char *what) {
    if (n->kind == kind) return 0;
    char b[80];
    return gr_fail_node(ctx, file, n, "%s: expected %s, got %s", what, gr_ykind_name(kind), shown(n, b, sizeof b));
}

int gr_check_keys(struct gr_ctx *ctx, const char *file, const struct gr_ynode *map,
                  const char *const *allowed, const char *what) {
    int n_allowed = 0;
    while (allowed[n_allowed]) n_allowed++;
    for (int i = 0; i < map->n; i++) {
        const struct gr_ynode *key = gr_ymap_key(map, i);
        int ok = 0;
        for (int j = 0; j < n_allowed && !ok; j++) ok = strcmp(key->str, allowed[j]) == 0;
        if (ok) continue;
        const char *near = gr_closest(key->str, allowed, n_allowed);
        if (near)
            return gr_fail_node(ctx, file, key, "unknown key '%s' in %s (did you mean '%s'?)", key->str, what, near);
        char list[400] = "";
        size_t used = 0;
        for (int j = 0; j < n_allowed && used < sizeof list - 1; j++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", j ? ", " : "", allowed[j]);
        return gr_fail_node(ctx, file, key, "unknown key '%s' in %s (expected one of: %s)", key->str, what, list);
    }
    return 0;
}

/* The shortest decimal form that reads back as `v` (0.999999999, not 1). */
static const char *number(double v, char *buf, size_t len) {
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(buf, len, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
    return buf;
}

int gr_read_int(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n, int64_t min, int64_t max,
                const char *what, int64_t *out) {
    char b[80], range[96];
    /* the whole range, so a user sees the bound they crossed */
    if (min == INT64_MIN && max == INT64_MAX) snprintf(range, sizeof range, "an integer");
    else snprintf(range, sizeof range, "an integer in [%lld, %lld]", (long long)min, (long long)max);
    if (n->kind != GR_Y_SCALAR || n->quoted)
        return gr_fail_node(ctx, file, n, "%s: expected %s, got %s", what, range, shown(n, b, sizeof b));
    const char *s = n->str;
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    int digits = 0;
    for (const char *q = p; *q; q++) {
        if (*q < '0' || *q > '9') { digits = -1; break; }
        digits++;
    }
    if (digits <= 0)
        return gr_fail_node(ctx, file, n, "%s: expected %s, got %s", what, range, shown(n, b, sizeof b));
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE || v < min || v > max)
        return gr_fail_node(ctx, file, n, "%s: expected %s, got %s", what, range, s);
    *out = v;
    return 0;
}

/* A number in [min, max], or (min, max] with open_min; every message
 * states the whole range. */
static int read_number(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n, double min, double max,
                       int open_min, const char *what, double *out) {
    char b[80], range[96], lo[32], hi[32];
    if (max == INFINITY && min == -INFINITY) snprintf(range, sizeof range, "a number");
    else if (max == INFINITY)
        snprintf(range, sizeof range, "a number %s %s", open_min ? ">" : ">=", number(min, lo, sizeof lo));
    else if (min == -INFINITY) snprintf(range, sizeof range, "a number <= %s", number(max, hi, sizeof hi));
    else snprintf(range, sizeof range, "a number in %c%s, %s]", open_min ? '(' : '[', number(min, lo, sizeof lo),
                  number(max, hi, sizeof hi));
    if (n->kind != GR_Y_SCALAR || n->quoted)
        return gr_fail_node(ctx, file, n, "%s: expected %s, got %s", what, range, shown(n, b, sizeof b));
    const char *s = n->str;
    /* decimal forms only: no hex floats, no inf or nan spellings */
    int ok = *s != 0;
    for (const char *q = s; *q && ok; q++) ok = strchr("0123456789+-.eE", *q) != NULL;
    char *end = NULL;
    errno = 0;
    double v = ok ? strtod(s, &end) : 0.0;
    if (!ok || !end || *end || errno == ERANGE || !isfinite(v))
        return gr_fail_node(ctx, file, n, "%s: expected %s, got %s", what, range, shown(n, b, sizeof b));
    if (v < min || v > max || (open_min && v <= min))
        return gr_fail_node(ctx, file, n, "%s: expected %s, got %s", what, range, s);
    *out = v;
    return 0;
}

int gr_read_float(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n, double min, double max,
                  const char *what, double *out) {
    return read_number(ctx, file, n, min, max, 0, what, out);
}

int gr_read_float_above(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n, double min, double max,
                        const char *what, double *out) {
    return read_number(ctx, file, n, min, max, 1, what, out);
}

int gr_read_bool(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n, const char *what, int *out) {
    char b[80];
    if (n->kind == GR_Y_SCALAR && !n->quoted) {
        if (strcmp(n->str, "true") == 0) { *out = 1; return 0; }
        if (strcmp(n->str, "false") == 0) { *out = 0; return 0; }
    }
    return gr_fail_node(ctx, file, n, "%s: expected true or false, got %s", what, shown(n, b, sizeof b));
}

int gr_read_string(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n, const char *what,
                   const char **out) {
    char b[80];
    if (n->kind != GR_Y_SCALAR || n->str[0] == 0)
        return gr_fail_node(ctx, file, n, "%s: expected a non-empty string, got %s", what,
                            n->kind == GR_Y_SCALAR ? "an empty value" : shown(n, b, sizeof b));
    *out = n->str;
    return 0;
}

int gr_read_choice(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n,
                   const char *const *choices, const char *what, int *out) {
    const char *s = NULL;
    if (gr_read_string(ctx, file, n, what, &s)) return -1;
    int count = 0;
    for (; choices[count]; count++)
        if (strcmp(s, choices[count]) == 0) {
            *out = count;
            return 0;
        }
    const char *near = gr_closest(s, choices, count);
    if (near) return gr_fail_node(ctx, file, n, "%s: unknown value '%s' (did you mean '%s'?)", what, s, near);
    char list[400] = "";
    size_t used = 0;
    for (int j = 0; j < count && used < sizeof list - 1; j++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", j ? ", " : "", choices[j]);
    return gr_fail_node(ctx, file, n, "%s: unknown value '%s' (expected one of: %s)", what, s, list);
}

/* ---- op attributes ------------------------------------------------------- */

static void int_range(const struct gr_attr_spec *spec, int64_t *lo, int64_t *hi) {
    if (spec->min == 0 && spec->max == 0) {
        *lo = INT64_MIN;
        *hi = INT64_MAX;
        return;
    }
    *lo = spec->min <= -9.2e18 ? INT64_MIN : (int64_t)spec->min;
    *hi = spec->max >= 9.2e18 ? INT64_MAX : (int64_t)spec->max;
}

int gr_attr_read(struct gr_ctx *ctx, const char *file, const struct gr_attr_spec *spec,
                 const struct gr_ynode *n, const char *what, struct gr_attr_value *v) {
    memset(v, 0, sizeof *v);
    int64_t lo, hi;
    switch (spec->type) {
    case GR_ATTR_INT:
        int_range(spec, &lo, &hi);
        if (gr_read_int(ctx, file, n, lo, hi, what, &v->i)) return -1;
        v->f = (double)v->i;
        break;
    case GR_ATTR_FLOAT: {
        double fl = -INFINITY, fh = INFINITY;
        if (spec->min != 0 || spec->max != 0) {
            fl = spec->min;
            fh = spec->max;
        }
        if (gr_read_float(ctx, file, n, fl, fh, what, &v->f)) return -1;
        break;
    }
    case GR_ATTR_BOOL: {
        int b = 0;
        if (gr_read_bool(ctx, file, n, what, &b)) return -1;
        v->i = b;
        break;
    }
    case GR_ATTR_STRING:
        if (spec->choices) {
            int k;
            if (gr_read_choice(ctx, file, n, spec->choices, what, &k)) return -1;
            v->s = spec->choices[k];
            v->i = k;
        } else if (gr_read_string(ctx, file, n, what, &v->s)) {
            return -1;
        }
        break;
    case GR_ATTR_INTS:
        if (gr_need_kind(ctx, file, n, GR_Y_SEQ, what)) return -1;
        if (n->n > GR_MAX_DIMS)
            return gr_fail_node(ctx, file, n, "%s: at most %d values, got %d", what, GR_MAX_DIMS, n->n);
        int_range(spec, &lo, &hi);
        for (int i = 0; i < n->n; i++) {
            char w[GR_ERRBUF];
            snprintf(w, sizeof w, "%s[%d]", what, i);
            if (gr_read_int(ctx, file, n->items[i], lo, hi, w, &v->ints[i])) return -1;
        }
        v->n = n->n;
        break;
    }
    v->present = 1;
    return 0;
}

int gr_attr_default(struct gr_ctx *ctx, const struct gr_attr_spec *spec, const char *what,
                    struct gr_attr_value *v) {
    memset(v, 0, sizeof *v);
    if (!spec->def) return 0;
    struct gr_ydoc doc;
    if (gr_yaml_parse(ctx, &doc, "(default)", spec->def, strlen(spec->def))) return -1;
    int rc = -1;
    if (!doc.root) gr_fail(ctx, "%s: empty default", what);
    else rc = gr_attr_read(ctx, "(default)", spec, doc.root, what, v);
    /* strings must outlive the default's document: they point into the spec */
    if (rc == 0 && spec->type == GR_ATTR_STRING) {
        if (spec->choices) v->s = spec->choices[v->i];
        else v->s = spec->def;
    }
    gr_yaml_free(&doc);
    return rc;
}
