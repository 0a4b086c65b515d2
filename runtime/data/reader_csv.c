/* csv: a table of numbers, RFC 4180 (docs/data-formats.md has the rules).
 *
 * Fields are separated by a delimiter (',' unless told) and rows by LF or
 * CRLF; a field may be quoted ("..."), with "" for a quote inside and
 * delimiters and line ends taken literally. A UTF-8 byte-order mark at the
 * start is skipped. The first row is a header if told so, or (by default)
 * if any of its cells is not a number. Every row has as many fields as the
 * first.
 *
 * Arrays: `features` [N, F] float32 from the chosen columns (by default all
 * but the label), and `labels` [N] from the label column if one is named:
 * int32 when every label is written as an integer ("3", "-1", "3.0"; no
 * exponent) that fits, float32 otherwise (regression targets). Columns that
 * are neither are not looked at. A number is a decimal, optionally signed,
 * with an optional exponent, spaces or tabs around it allowed; nothing else
 * (no empty cells, NaN, infinity or hexadecimal) is. Values round to the
 * nearest float32; a value beyond float32's range is refused.
 *
 * Opening makes one pass over the file that checks every cell it will read
 * and counts the rows, holding one field at a time; reading makes
 * another that parses straight into the caller's buffers. Errors read
 * FILE:LINE: column 'x': ..., LINE counting the file's lines (a quoted
 * field's line ends included) and naming where the field starts. */
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/data/reader.h"

#define CSV_CHUNK ((size_t)1 << 20)
#define CSV_MAX_CELL 65536
#define CSV_MAX_COLS 100000

/* ---- numbers -------------------------------------------------------------- */

enum { NUM_OK, NUM_EMPTY, NUM_BAD, NUM_NAN, NUM_INF, NUM_RANGE };

struct num {
    float f;
    int is_int;  /* written as an integer that fits int32 */
    int32_t i;
};

/* Exact powers of ten in float32: 10^10 = 2^10 * 5^10 and 5^10 < 2^24. */
static const float pow10f[11] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f};

static int word(const char *p, const char *e, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(e - p) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)p[i]) != w[i]) return 0;
    return 1;
}

/* A decimal as written: [+-] digits [. digits] [(e|E) [+-] digits]. */
struct decimal {
    uint64_t m;   /* the first 19 significant digits */
    int64_t iv;   /* the integer part, saturating above 2^40 */
    int exp10;    /* value = m * 10^exp10, unless `long` */
    int digits;   /* of the significand; 0: not a number */
    int neg, is_long, frac_nonzero, has_exp;
};

/* Scan a decimal from p (up to e); returns where it stops. */
static const char *scan_decimal(const char *p, const char *e, struct decimal *d) {
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
static int decimal_value(const struct decimal *d, struct num *out) {
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
static int parse_number(const char *s, size_t n, char *scratch, struct num *out) {
    const char *p = s, *e = s + n;
    while (p < e && (*p == ' ' || *p == '\t')) p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if (p == e) return NUM_EMPTY;
    struct decimal d;
    const char *stop = scan_decimal(p, e, &d);
    if (d.digits == 0) {
        const char *w = p + (*p == '+' || *p == '-');
        if (word(w, e, "nan")) return NUM_NAN;
        return word(w, e, "inf") || word(w, e, "infinity") ? NUM_INF : NUM_BAD;
    }
    if (stop != e) return NUM_BAD;
    if (decimal_value(&d, out)) return NUM_OK;
    /* strtof reads up to a NUL: the number alone, in scratch */
    size_t len = (size_t)(e - p);
    memmove(scratch, p, len);
    scratch[len] = 0;
    char *end;
    float f = strtof(scratch, &end);
    if (end != scratch + len) return NUM_BAD;
    if (isinf(f)) return NUM_RANGE;
    out->f = f;
    return NUM_OK;
}

/* ---- fields --------------------------------------------------------------- */

enum { END_FIELD, END_ROW, END_FILE };
enum { TOK_IO = -1, TOK_UNCLOSED = -2, TOK_AFTER_QUOTE = -3, TOK_STRAY_QUOTE = -4, TOK_BARE_CR = -5,
       TOK_TOO_LONG = -6 };

struct tok {
    const struct gr_source *src;
    uint8_t *buf; /* buf_cap: CSV_CHUNK, or less for a smaller file */
    size_t buf_cap, len, pos;
    uint64_t off;  /* of buf[len] in the file */
    int64_t line;  /* physical line of the next byte, 1-based */
    uint8_t special[256];
    char delim;
    /* the last field: n bytes at text, in buf or (when it spans two reads,
     * or was quoted) in cell */
    const char *text;
    char *cell; /* cell_cap + 1: CSV_MAX_CELL, or less for a smaller file */
    size_t cell_cap, n;
    int quoted;
    int64_t cell_line;
    int bad_char; /* TOK_AFTER_QUOTE: the byte after the quote */
};

static int fill(struct gr_ctx *ctx, struct tok *t) {
    int64_t got = gr_source_pread(ctx, t->src, t->buf, t->buf_cap, t->off);
    if (got < 0) return -1;
    t->len = (size_t)got;
    t->pos = 0;
    t->off += (uint64_t)got;
    return 0;
}

/* The next byte, or -1 at the end of the file, or -2 on a read error. */
static int next_byte(struct gr_ctx *ctx, struct tok *t) {
    if (t->pos == t->len) {
        if (fill(ctx, t)) return -2;
        if (t->len == 0) return -1;
    }
    return t->buf[t->pos++];
}

static void tok_rewind(struct tok *t) {
    t->len = t->pos = 0;
    t->off = 0;
    t->line = 1;
}

/* What follows a field: the delimiter, a line end or the file's end. */
static int field_end(struct gr_ctx *ctx, struct tok *t, int c) {
    if (c == t->delim) return END_FIELD;
    if (c == '\n') {
        t->line++;
        return END_ROW;
    }
    if (c == '\r') {
        int d = next_byte(ctx, t);
        if (d == '\n') {
            t->line++;
            return END_ROW;
        }
        return d == -2 ? TOK_IO : TOK_BARE_CR;
    }
    return c == -1 ? END_FILE : TOK_IO;
}

static int quoted_field(struct gr_ctx *ctx, struct tok *t) {
    for (;;) {
        int c = next_byte(ctx, t);
        if (c < 0) return c == -1 ? TOK_UNCLOSED : TOK_IO;
        if (c == '"') {
            c = next_byte(ctx, t);
            if (c != '"') {
                int r = field_end(ctx, t, c);
                if (r == TOK_IO && c >= 0) t->bad_char = c, r = TOK_AFTER_QUOTE;
                return r;
            }
        }
        if (c == '\n') t->line++;
        if (t->n == t->cell_cap) return TOK_TOO_LONG;
        t->cell[t->n++] = (char)c;
    }
}

/* An unquoted field that a read cut in two: gathered in t->cell. */
static int spanning_field(struct gr_ctx *ctx, struct tok *t) {
    for (;;) {
        const uint8_t *b = t->buf, *p = b + t->pos, *e = b + t->len;
        while (p < e && !t->special[*p]) p++;
        size_t k = (size_t)(p - b) - t->pos;
        if (t->n + k > t->cell_cap) return TOK_TOO_LONG;
        memcpy(t->cell + t->n, b + t->pos, k);
        t->n += k;
        t->pos = (size_t)(p - b);
        if (p < e) return 0;
        if (fill(ctx, t)) return TOK_IO;
        if (t->len == 0) return 0;
    }
}

/* One field, at t->text: END_* for what follows it, or a TOK_ error. */
static int next_field(struct gr_ctx *ctx, struct tok *t) {
    t->n = 0;
    t->text = t->cell;
    t->quoted = 0;
    t->cell_line = t->line;
    if (t->pos == t->len && fill(ctx, t)) return TOK_IO;
    if (t->pos < t->len && t->buf[t->pos] == '"') {
        t->pos++;
        t->quoted = 1;
        return quoted_field(ctx, t);
    }
    const uint8_t *b = t->buf, *p = b + t->pos, *e = b + t->len;
    while (p < e && !t->special[*p]) p++;
    if (p < e) { /* the whole field is in the buffer: read in place */
        t->text = (const char *)b + t->pos;
        t->n = (size_t)(p - b) - t->pos;
        t->pos = (size_t)(p - b);
        if (t->n > t->cell_cap) return TOK_TOO_LONG;
    } else {
        int r = spanning_field(ctx, t);
        if (r) return r;
    }
    int c = next_byte(ctx, t);
    if (c == '"') return TOK_STRAY_QUOTE;
    return field_end(ctx, t, c);
}

/* ---- the reader's state ------------------------------------------------------ */

enum { SLOT_SKIP = -1, SLOT_LABEL = -2 };

struct csv_state {
    struct tok t;
    int has_header;
    int n_cols;
    char **names; /* the header row, or NULL */
    int *slot;    /* per column: SLOT_SKIP, SLOT_LABEL or the feature's position */
    int n_feat;
    int label;    /* column, or -1 */
    int label_int;
    int64_t n_rows;
    int features_k, labels_k; /* array indices, -1 if absent */
};

/* A cell's text for a message: at most 40 bytes, control bytes escaped. */
static void show(char *out, size_t cap, const char *s, size_t n) {
    size_t at = 0;
    for (size_t i = 0; i < n && at + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 40) {
            at += (size_t)snprintf(out + at, cap - at, "...");
            break;
        }
        if (c == '\n') at += (size_t)snprintf(out + at, cap - at, "\\n");
        else if (c == '\r') at += (size_t)snprintf(out + at, cap - at, "\\r");
        else if (c < 0x20 || c == 0x7f) at += (size_t)snprintf(out + at, cap - at, "\\x%02x", c);
        else out[at++] = (char)c;
    }
    out[at < cap ? at : cap - 1] = 0;
}

static void column_name(const struct csv_state *st, int64_t col, char *out, size_t cap) {
    if (st->names && col < st->n_cols) {
        char name[64];
        show(name, sizeof name, st->names[col], strlen(st->names[col]));
        snprintf(out, cap, "column '%s'", name);
    } else {
        snprintf(out, cap, "column %lld", (long long)col);
    }
}

static int tok_error(struct gr_ctx *ctx, const struct csv_state *st, int err, int64_t col) {
    const struct tok *t = &st->t;
    const char *path = t->src->path;
    char name[96];
    column_name(st, col, name, sizeof name);
    long long line = (long long)t->cell_line;
    switch (err) {
    case TOK_UNCLOSED: return gr_fail(ctx, "%s:%lld: %s: quoted field is never closed", path, line, name);
    case TOK_AFTER_QUOTE:
        if (t->bad_char >= 0x20 && t->bad_char < 0x7f)
            return gr_fail(ctx, "%s:%lld: %s: '%c' after a closing quote (expected a delimiter or a line end)",
                           path, line, name, t->bad_char);
        return gr_fail(ctx, "%s:%lld: %s: byte 0x%02x after a closing quote (expected a delimiter or a line end)",
                       path, line, name, t->bad_char);
    case TOK_STRAY_QUOTE:
        return gr_fail(ctx, "%s:%lld: %s: a quote inside an unquoted field (quote the whole field, and double the "
                            "quote)",
                       path, line, name);
    case TOK_BARE_CR:
        return gr_fail(ctx, "%s:%lld: a carriage return not followed by a line feed (lines end with LF or CRLF)",
                       path, (long long)t->line);
    case TOK_TOO_LONG:
        if (t->cell_cap < CSV_MAX_CELL) /* longer than the whole file was */
            return gr_fail(ctx, "%s: the file changed after it was opened", path);
        return gr_fail(ctx, "%s:%lld: %s: field longer than %d bytes", path, line, name, CSV_MAX_CELL);
    }
    return -1; /* TOK_IO: the message is set */
}

static int cell_error(struct gr_ctx *ctx, const struct csv_state *st, int status, int64_t col) {
    const struct tok *t = &st->t;
    char name[96], text[200];
    column_name(st, col, name, sizeof name);
    show(text, sizeof text, t->text, t->n);
    const char *path = t->src->path;
    long long line = (long long)t->cell_line;
    switch (status) {
    case NUM_EMPTY: return gr_fail(ctx, "%s:%lld: %s: empty cell, expected a number", path, line, name);
    case NUM_NAN: return gr_fail(ctx, "%s:%lld: %s: NaN is not allowed: '%s'", path, line, name, text);
    case NUM_INF: return gr_fail(ctx, "%s:%lld: %s: infinity is not allowed: '%s'", path, line, name, text);
    case NUM_RANGE: return gr_fail(ctx, "%s:%lld: %s: beyond float32's range: '%s'", path, line, name, text);
    }
    return gr_fail(ctx, "%s:%lld: %s: not a number: '%s'", path, line, name, text);
}

/* ---- passes ------------------------------------------------------------------- */

static int tok_start(struct gr_ctx *ctx, struct tok *t) {
    tok_rewind(t);
    if (fill(ctx, t)) return -1;
    if (t->len >= 3 && memcmp(t->buf, "\xef\xbb\xbf", 3) == 0) t->pos = 3;
    return 0;
}

/* The first row's cells, kept as the header's names; *numeric whether
 * every one of them is a number. */
static int first_row(struct gr_ctx *ctx, struct csv_state *st, int *numeric) {
    struct tok *t = &st->t;
    if (tok_start(ctx, t)) return -1;
    int cap = 0, r = END_FIELD;
    *numeric = 1;
    while (r == END_FIELD) {
        r = next_field(ctx, t);
        if (r < 0) return tok_error(ctx, st, r, st->n_cols);
        if (st->n_cols == CSV_MAX_COLS)
            return gr_fail(ctx, "%s:1: more than %d columns", t->src->path, CSV_MAX_COLS);
        if (st->n_cols == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = gr_calloc(ctx, (size_t)cap, sizeof *grown);
            if (!grown) return -1;
            if (st->names) memcpy(grown, st->names, (size_t)st->n_cols * sizeof *grown);
            gr_free(ctx, st->names);
            st->names = grown;
        }
        if (!(st->names[st->n_cols] = gr_alloc(ctx, t->n + 1))) return -1;
        memcpy(st->names[st->n_cols], t->text, t->n);
        st->names[st->n_cols][t->n] = 0;
        st->n_cols++;
        struct num v;
        *numeric &= parse_number(t->text, t->n, t->cell, &v) == NUM_OK;
    }
    if (st->n_cols == 1 && t->n == 0 && !t->quoted && r == END_FILE)
        return gr_fail(ctx, "%s: no rows (the file holds only a byte-order mark)", t->src->path);
    return 0;
}

static int changed(struct gr_ctx *ctx, const struct csv_state *st) {
    return gr_fail(ctx, "%s: the file changed after it was opened (it had %lld rows)", st->t.src->path,
                   (long long)st->n_rows);
}

/* One cell's value, checked (reading 0) or kept in the buffers. */
static int keep(struct gr_ctx *ctx, struct csv_state *st, int slot, int64_t row, int reading, float *features,
                void *labels, const struct num *v) {
    if (slot >= 0) {
        if (reading) features[row * st->n_feat + slot] = v->f;
    } else if (!reading) {
        st->label_int &= v->is_int;
    } else if (st->label_int) {
        if (!v->is_int) return changed(ctx, st);
        ((int32_t *)labels)[row] = v->i;
    } else {
        ((float *)labels)[row] = v->f;
    }
    return 0;
}

/* The common field, fast: an unquoted number that Clinger's path gives,
 * ending at the delimiter or a line end inside the buffer. END_FIELD or
 * END_ROW with the field consumed, or -1 for the general path. Integers
 * of up to 7 digits, the commonest cells, are exact floats at once. */
static int fast_field(struct tok *t, struct num *v) {
    const char *b = (const char *)t->buf, *p = b + t->pos, *e = b + t->len, *q = p;
    int neg = q < e && *q == '-';
    q += neg;
    const char *first = q;
    int32_t iv = 0;
    while (q < e && (unsigned)(*q - '0') < 10 && q - first < 7) iv = iv * 10 + (*q++ - '0');
    if (q > first && q < e && (*q == t->delim || *q == '\n' || *q == '\r')) {
        v->f = neg ? -(float)iv : (float)iv;
        v->is_int = 1;
        v->i = neg ? -iv : iv;
    } else {
        struct decimal d;
        q = scan_decimal(p, e, &d);
        if (d.digits == 0 || q == e || !decimal_value(&d, v)) return -1;
    }
    int r = END_FIELD;
    size_t skip = 1;
    if (*q == '\n') {
        r = END_ROW;
    } else if (*q == '\r' && q + 1 < e && q[1] == '\n') {
        r = END_ROW;
        skip = 2;
    } else if (*q != t->delim) {
        return -1;
    }
    t->pos = (size_t)(q - b) + skip;
    t->line += r == END_ROW;
    return r;
}

/* One pass over the data rows: counting and checking (reading 0), or
 * parsing into the buffers that are not NULL. Returns the rows, or -1. */
static int64_t pass(struct gr_ctx *ctx, struct csv_state *st, int reading, float *features, void *labels) {
    struct tok *t = &st->t;
    const char *path = t->src->path;
    if (tok_start(ctx, t)) return -1;
    int64_t row = st->has_header ? -1 : 0;
    for (int r = END_ROW; r != END_FILE; row++) {
        int64_t row_line = t->line, col = 0; /* a ragged row's fields may be many */
        for (r = END_FIELD; r == END_FIELD; col++) {
            int slot = row >= 0 && col < st->n_cols ? st->slot[col] : SLOT_SKIP;
            int wanted = slot != SLOT_SKIP && (!reading || (slot >= 0 ? features != NULL : labels != NULL));
            struct num v;
            if (wanted && (r = fast_field(t, &v)) >= 0) {
                if (reading && row >= st->n_rows) return changed(ctx, st);
                if (keep(ctx, st, slot, row, reading, features, labels, &v)) return -1;
                continue;
            }
            r = next_field(ctx, t);
            if (r < 0) return tok_error(ctx, st, r, col);
            if (col == 0 && r != END_FIELD && t->n == 0 && !t->quoted) {
                if (r == END_FILE) return row;
                if (st->n_cols > 1)
                    return gr_fail(ctx, "%s:%lld: empty line (expected %d fields)", path, (long long)row_line,
                                   st->n_cols);
            }
            if (!wanted) continue;
            if (reading && row >= st->n_rows) return changed(ctx, st);
            int status = parse_number(t->text, t->n, t->cell, &v);
            if (status != NUM_OK) return cell_error(ctx, st, status, col);
            if (keep(ctx, st, slot, row, reading, features, labels, &v)) return -1;
        }
        if (col != st->n_cols)
            return gr_fail(ctx, "%s:%lld: %lld field%s, but %s %d", path, (long long)row_line, (long long)col,
                           col == 1 ? "" : "s", st->has_header ? "the header row has" : "the first row has",
                           st->n_cols);
    }
    return row;
}

/* ---- choosing columns ---------------------------------------------------------- */

static int resolve(struct gr_ctx *ctx, const struct csv_state *st, const struct gr_column *c, const char *role,
                   int *out) {
    const char *path = st->t.src->path;
    if (!c->name) {
        int64_t i = c->index < 0 ? c->index + st->n_cols : c->index;
        if (i < 0 || i >= st->n_cols)
            return gr_fail(ctx, "%s: %s column %lld is out of range: the rows have %d columns", path, role,
                           (long long)c->index, st->n_cols);
        *out = (int)i;
        return 0;
    }
    if (!st->names)
        return gr_fail(ctx, "%s: %s column '%s' is given by name, but the file has no header row", path, role,
                       c->name);
    int found = -1;
    for (int i = 0; i < st->n_cols; i++) {
        if (strcmp(st->names[i], c->name) != 0) continue;
        if (found >= 0)
            return gr_fail(ctx, "%s: %s column '%s' is ambiguous: columns %d and %d have that name", path, role,
                           c->name, found, i);
        found = i;
    }
    if (found < 0) return gr_fail(ctx, "%s: no column named '%s' in the header row", path, c->name);
    *out = found;
    return 0;
}

static int choose(struct gr_ctx *ctx, struct csv_state *st, const struct gr_read_opts *o) {
    const char *path = st->t.src->path;
    st->slot = gr_alloc(ctx, (size_t)st->n_cols * sizeof *st->slot);
    if (!st->slot) return -1;
    for (int i = 0; i < st->n_cols; i++) st->slot[i] = SLOT_SKIP;
    st->label = -1;
    if (o->label) {
        if (resolve(ctx, st, o->label, "label", &st->label)) return -1;
        st->slot[st->label] = SLOT_LABEL;
    }
    if (!o->features) {
        for (int i = 0; i < st->n_cols; i++)
            if (i != st->label) st->slot[i] = st->n_feat++;
    }
    for (int k = 0; o->features && k < o->n_features; k++) {
        int col = 0;
        char name[96];
        if (resolve(ctx, st, &o->features[k], "feature", &col)) return -1;
        column_name(st, col, name, sizeof name);
        if (st->slot[col] == SLOT_LABEL)
            return gr_fail(ctx, "%s: %s is the label column, and cannot be a feature too", path, name);
        if (st->slot[col] >= 0) return gr_fail(ctx, "%s: %s is chosen twice as a feature", path, name);
        st->slot[col] = st->n_feat++;
    }
    if (st->n_feat == 0)
        return gr_fail(ctx, "%s: no feature columns (the rows have %d column%s%s)", path, st->n_cols,
                       st->n_cols == 1 ? "" : "s", st->label >= 0 ? ", one of them the label" : "");
    return 0;
}

/* The names of the columns that go to slot values 0.. (or to the label). */
static int column_names(struct gr_ctx *ctx, const struct csv_state *st, struct gr_array_info *a, int label) {
    a->n_columns = label ? 1 : st->n_feat;
    if (!(a->columns = gr_calloc(ctx, (size_t)a->n_columns, sizeof *a->columns))) return -1;
    for (int i = 0; i < st->n_cols; i++) {
        int s = st->slot[i];
        if (s == SLOT_SKIP || (s == SLOT_LABEL) != label) continue;
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        if (!(a->columns[label ? 0 : s] = gr_strdup(ctx, st->names ? st->names[i] : num))) return -1;
    }
    return 0;
}

static int add_arrays(struct gr_ctx *ctx, struct gr_source *src, struct csv_state *st) {
    struct gr_array_info *f = gr_source_add(ctx, src, src->path, "features");
    if (!f) return -1;
    f->elem = GR_ELEM_TEXT;
    f->type = GR_ARRAY_F32;
    if (gr_array_set_shape(ctx, src->path, f, 2, (int64_t[]){st->n_rows, st->n_feat}) ||
        column_names(ctx, st, f, 0))
        return -1;
    st->features_k = 0;
    st->labels_k = -1;
    if (st->label < 0) return 0;
    struct gr_array_info *l = gr_source_add(ctx, src, src->path, "labels");
    if (!l) return -1;
    l->elem = GR_ELEM_TEXT;
    l->type = st->label_int ? GR_ARRAY_I32 : GR_ARRAY_F32;
    st->labels_k = 1;
    return gr_array_set_shape(ctx, src->path, l, 1, &st->n_rows) || column_names(ctx, st, l, 1);
}

static int check_delimiter(struct gr_ctx *ctx, const char *path, char d) {
    if (d == '\t' || (ispunct((unsigned char)d) && !strchr("\".+-", d))) return 0;
    char shown[16];
    show(shown, sizeof shown, &d, 1);
    return gr_fail(ctx, "%s: '%s' cannot be a csv delimiter (use ',', ';', a tab, '|' or other punctuation)", path,
                   shown);
}

static void csv_close(struct gr_ctx *ctx, struct gr_source *src) {
    struct csv_state *st = src->state;
    if (!st) return;
    for (int i = 0; st->names && i < st->n_cols; i++) gr_free(ctx, st->names[i]);
    gr_free(ctx, st->names);
    gr_free(ctx, st->slot);
    gr_free(ctx, st->t.buf);
    gr_free(ctx, st->t.cell);
    gr_free(ctx, st);
    src->state = NULL;
}

static int csv_open(struct gr_ctx *ctx, struct gr_source *src, const struct gr_read_opts *o) {
    char delim = o->delimiter ? o->delimiter : ',';
    if (check_delimiter(ctx, src->path, delim)) return -1;
    struct csv_state *st = gr_calloc(ctx, 1, sizeof *st);
    if (!st) return -1;
    src->state = st;
    struct tok *t = &st->t;
    t->src = src;
    t->delim = delim;
    t->special[(uint8_t)delim] = t->special['\n'] = t->special['\r'] = t->special['"'] = 1;
    t->buf_cap = src->size < CSV_CHUNK ? (size_t)src->size : CSV_CHUNK;
    t->cell_cap = src->size < CSV_MAX_CELL ? (size_t)src->size : CSV_MAX_CELL;
    t->buf = gr_alloc(ctx, t->buf_cap);
    t->cell = gr_alloc(ctx, t->cell_cap + 1);
    if (!t->buf || !t->cell) return -1;
    int numeric = 0;
    if (first_row(ctx, st, &numeric)) return -1;
    st->has_header = o->header == GR_CSV_HEADER_YES || (o->header == GR_CSV_HEADER_AUTO && !numeric);
    if (!st->has_header) {
        for (int i = 0; i < st->n_cols; i++) gr_free(ctx, st->names[i]);
        gr_free(ctx, st->names);
        st->names = NULL;
    }
    if (choose(ctx, st, o)) return -1;
    st->label_int = 1;
    int64_t rows = pass(ctx, st, 0, NULL, NULL);
    if (rows < 0) return -1;
    if (rows == 0) return gr_fail(ctx, "%s: no data rows%s", src->path, st->has_header ? " after the header" : "");
    st->n_rows = rows;
    return add_arrays(ctx, src, st);
}

static int csv_read(struct gr_ctx *ctx, struct gr_source *src, void *const *dst) {
    struct csv_state *st = src->state;
    float *features = dst[st->features_k];
    void *labels = st->labels_k >= 0 ? dst[st->labels_k] : NULL;
    if (!features && !labels) return 0;
    int64_t rows = pass(ctx, st, 1, features, labels);
    if (rows < 0) return -1;
    return rows == st->n_rows ? 0 : changed(ctx, st);
}

static const char *const csv_extensions[] = {".csv", NULL};

const struct gr_reader_desc gr_reader_csv = {
    .name = "csv",
    .what = "a CSV file",
    .extensions = csv_extensions,
    .sniff = NULL,
    .open = csv_open,
    .read = csv_read,
    .close = csv_close,
};
