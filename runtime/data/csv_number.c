#include "runtime/data/csv_number.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Exact powers of ten in float32: 10^10 = 2^10 * 5^10 and 5^10 < 2^24. */
static const float pow10f[11] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f};

static int word(const char *p, const char *e, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(e - p) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)p[i]) != w[i]) return 0;
    return 1;
}

const char *gr_decimal_scan(const char *p, const char *e, struct gr_decimal *d) {
    memset(d, 0, sizeof *d);
    d->neg = p < e && *p == '-';
    if (p < e && (*p == '+' || *p == '-')) p++;
    int kept = 0;
    for (; p < e && (unsigned)(*p - '0') < 10; p++, d->digits++) {
        int v = *p - '0';
        if (d->iv < ((int64_t)1 << 40)) d->iv = d->iv * 10 + v;
        if (d->m == 0 && v == 0) continue;
        if (kept < 19) d->m = d->m * 10 + (uint64_t)v, kept++;
        else d->is_long = 1;
    }
    if (p < e && *p == '.')
        for (p++; p < e && (unsigned)(*p - '0') < 10; p++, d->digits++) {
            int v = *p - '0';
            d->frac_nonzero |= v;
            if (d->m == 0 && v == 0) d->exp10--;
            else if (kept < 19) d->m = d->m * 10 + (uint64_t)v, kept++, d->exp10--;
            else d->is_long = 1;
        }
    if (d->digits == 0 || p == e || (*p != 'e' && *p != 'E')) return p;
    const char *q = p + 1;
    int eneg = q < e && *q == '-', ev = 0;
    if (q < e && (*q == '+' || *q == '-')) q++;
    if (q == e || (unsigned)(*q - '0') >= 10) return p; /* not an exponent: stops at the 'e' */
    for (; q < e && (unsigned)(*q - '0') < 10; q++)
        if (ev < 100000) ev = ev * 10 + (*q - '0');
    d->exp10 += eneg ? -ev : ev;
    d->has_exp = 1;
    return q;
}

/* The value, when Clinger's fast path gives it: the significand m <= 2^24
 * and the exponent k within +-10 are exact floats, so one IEEE
 * multiplication or division rounds m * 10^k correctly, as strtof would.
 * 0: strtof must say. */
int gr_decimal_value(const struct gr_decimal *d, struct gr_num *out) {
    out->is_int = !d->has_exp && !d->frac_nonzero && d->iv <= (int64_t)INT32_MAX + d->neg;
    out->i = (int32_t)(d->neg ? -d->iv : d->iv);
#if FLT_EVAL_METHOD == 0
    if (!d->is_long && d->m <= (1u << 24) && d->exp10 >= -10 && d->exp10 <= 10) {
        float f = (float)d->m;
        f = d->exp10 >= 0 ? f * pow10f[d->exp10] : f / pow10f[-d->exp10];
        out->f = d->neg ? -f : f;
        return 1;
    }
#endif
    return 0;
}

/* A cell's number; spaces and tabs around it are allowed. scratch holds
 * n + 1 bytes, for strtof. */
int gr_number_parse(const char *s, size_t n, char *scratch, struct gr_num *out) {
    const char *p = s, *e = s + n;
    while (p < e && (*p == ' ' || *p == '\t')) p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if (p == e) return GR_NUM_EMPTY;
    struct gr_decimal d;
    const char *stop = gr_decimal_scan(p, e, &d);
    if (d.digits == 0) {
        const char *w = p + (*p == '+' || *p == '-');
        if (word(w, e, "nan")) return GR_NUM_NAN;
        return word(w, e, "inf") || word(w, e, "infinity") ? GR_NUM_INF : GR_NUM_BAD;
    }
    if (stop != e) return GR_NUM_BAD;
    if (gr_decimal_value(&d, out)) return GR_NUM_OK;
    /* strtof reads up to a NUL: the number alone, in scratch */
    size_t len = (size_t)(e - p);
    memmove(scratch, p, len);
    scratch[len] = 0;
    char *end;
    float f = strtof(scratch, &end);
    if (end != scratch + len) return GR_NUM_BAD;
    if (isinf(f)) return GR_NUM_RANGE;
    out->f = f;
    return GR_NUM_OK;
}
