#include "runtime/data/csv_tok.h"

#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/data/reader.h"

int gr_csv_tok_init(struct gr_ctx *ctx, struct gr_csv_tok *t, const struct gr_source *src, char delim) {
    memset(t, 0, sizeof *t);
    t->src = src;
    t->delim = delim;
    t->special[(uint8_t)delim] = t->special['\n'] = t->special['\r'] = t->special['"'] = 1;
    t->buf_cap = src->size < GR_CSV_CHUNK ? (size_t)src->size : GR_CSV_CHUNK;
    t->cell_cap = src->size < GR_CSV_MAX_CELL ? (size_t)src->size : GR_CSV_MAX_CELL;
    t->buf = gr_alloc(ctx, t->buf_cap);
    t->cell = gr_alloc(ctx, t->cell_cap + 1);
    return t->buf && t->cell ? 0 : -1;
}

void gr_csv_tok_free(struct gr_ctx *ctx, struct gr_csv_tok *t) {
    gr_free(ctx, t->buf);
    gr_free(ctx, t->cell);
    t->buf = NULL;
    t->cell = NULL;
}

static int fill(struct gr_ctx *ctx, struct gr_csv_tok *t) {
    int64_t got = gr_source_pread(ctx, t->src, t->buf, t->buf_cap, t->off);
    if (got < 0) return -1;
    t->len = (size_t)got;
    t->pos = 0;
    t->off += (uint64_t)got;
    return 0;
}

/* The next byte, or -1 at the end of the file, or -2 on a read error. */
static int next_byte(struct gr_ctx *ctx, struct gr_csv_tok *t) {
    if (t->pos == t->len) {
        if (fill(ctx, t)) return -2;
        if (t->len == 0) return -1;
    }
    return t->buf[t->pos++];
}

static void tok_rewind(struct gr_csv_tok *t) {
    t->len = t->pos = 0;
    t->off = 0;
    t->line = 1;
}

/* What follows a field: the delimiter, a line end or the file's end. */
static int field_end(struct gr_ctx *ctx, struct gr_csv_tok *t, int c) {
    if (c == t->delim) return GR_CSV_FIELD;
    if (c == '\n') {
        t->line++;
        return GR_CSV_ROW;
    }
    if (c == '\r') {
        int d = next_byte(ctx, t);
        if (d == '\n') {
            t->line++;
            return GR_CSV_ROW;
        }
        return d == -2 ? GR_CSV_IO : GR_CSV_BARE_CR;
    }
    return c == -1 ? GR_CSV_EOF : GR_CSV_IO;
}

static int quoted_field(struct gr_ctx *ctx, struct gr_csv_tok *t) {
    for (;;) {
        int c = next_byte(ctx, t);
        if (c < 0) return c == -1 ? GR_CSV_UNCLOSED : GR_CSV_IO;
        if (c == '"') {
            c = next_byte(ctx, t);
            if (c != '"') {
                int r = field_end(ctx, t, c);
                if (r == GR_CSV_IO && c >= 0) t->bad_char = c, r = GR_CSV_AFTER_QUOTE;
                return r;
            }
        }
        if (c == '\n') t->line++;
        if (t->n == t->cell_cap) return GR_CSV_TOO_LONG;
        t->cell[t->n++] = (char)c;
    }
}

/* An unquoted field that a read cut in two: gathered in t->cell. */
static int spanning_field(struct gr_ctx *ctx, struct gr_csv_tok *t) {
    for (;;) {
        const uint8_t *b = t->buf, *p = b + t->pos, *e = b + t->len;
        while (p < e && !t->special[*p]) p++;
        size_t k = (size_t)(p - b) - t->pos;
        if (t->n + k > t->cell_cap) return GR_CSV_TOO_LONG;
        memcpy(t->cell + t->n, b + t->pos, k);
        t->n += k;
        t->pos = (size_t)(p - b);
        if (p < e) return 0;
        if (fill(ctx, t)) return GR_CSV_IO;
        if (t->len == 0) return 0;
    }
}

int gr_csv_next_field(struct gr_ctx *ctx, struct gr_csv_tok *t) {
    t->n = 0;
    t->text = t->cell;
    t->quoted = 0;
    t->cell_line = t->line;
    if (t->pos == t->len && fill(ctx, t)) return GR_CSV_IO;
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
        if (t->n > t->cell_cap) return GR_CSV_TOO_LONG;
    } else {
        int r = spanning_field(ctx, t);
        if (r) return r;
    }
    int c = next_byte(ctx, t);
    if (c == '"') return GR_CSV_STRAY_QUOTE;
    return field_end(ctx, t, c);
}

int gr_csv_tok_start(struct gr_ctx *ctx, struct gr_csv_tok *t) {
    tok_rewind(t);
    if (fill(ctx, t)) return -1;
    if (t->len >= 3 && memcmp(t->buf, "\xef\xbb\xbf", 3) == 0) t->pos = 3;
    return 0;
}

int gr_csv_fast_field(struct gr_csv_tok *t, struct gr_num *v) {
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
        struct gr_decimal d;
        q = gr_decimal_scan(p, e, &d);
        if (d.digits == 0 || q == e || !gr_decimal_value(&d, v)) return -1;
    }
    int r = GR_CSV_FIELD;
    size_t skip = 1;
    if (*q == '\n') {
        r = GR_CSV_ROW;
    } else if (*q == '\r' && q + 1 < e && q[1] == '\n') {
        r = GR_CSV_ROW;
        skip = 2;
    } else if (*q != t->delim) {
        return -1;
    }
    t->pos = (size_t)(q - b) + skip;
    t->line += r == GR_CSV_ROW;
    return r;
}
