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
 * field's line ends included) and naming where the field starts. The
 * fields come from csv_tok.c, their numbers from csv_number.c. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/base/text.h"
#include "runtime/data/csv_number.h"
#include "runtime/data/csv_tok.h"
#include "runtime/data/reader.h"

#define CSV_MAX_COLS 100000

/* ---- the reader's state ------------------------------------------------------ */

enum { SLOT_SKIP = -1, SLOT_LABEL = -2 };

struct csv_state {
    struct gr_csv_tok t;
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
            /* not inside a UTF-8 character: drop a lead byte whose
             * sequence the cut left short, with what it has */
            size_t j = at;
            while (j > 0 && ((unsigned char)out[j - 1] & 0xc0) == 0x80) j--;
            if (j > 0 && (unsigned char)out[j - 1] >= 0xc0) {
                unsigned lead = (unsigned char)out[j - 1];
                size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
                if (at - (j - 1) < need) at = j - 1;
            }
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
    const struct gr_csv_tok *t = &st->t;
    const char *path = t->src->path;
    char name[96];
    column_name(st, col, name, sizeof name);
    long long line = (long long)t->cell_line;
    switch (err) {
    case GR_CSV_UNCLOSED: return gr_fail(ctx, "%s:%lld: %s: quoted field is never closed", path, line, name);
    case GR_CSV_AFTER_QUOTE:
        if (t->bad_char >= 0x20 && t->bad_char < 0x7f)
            return gr_fail(ctx, "%s:%lld: %s: '%c' after a closing quote (expected a delimiter or a line end)",
                           path, line, name, t->bad_char);
        return gr_fail(ctx, "%s:%lld: %s: byte 0x%02x after a closing quote (expected a delimiter or a line end)",
                       path, line, name, t->bad_char);
    case GR_CSV_STRAY_QUOTE:
        return gr_fail(ctx, "%s:%lld: %s: a quote inside an unquoted field (quote the whole field, and double the "
                            "quote)",
                       path, line, name);
    case GR_CSV_BARE_CR:
        return gr_fail(ctx, "%s:%lld: a carriage return not followed by a line feed (lines end with LF or CRLF)",
                       path, (long long)t->line);
    case GR_CSV_TOO_LONG:
        if (t->cell_cap < GR_CSV_MAX_CELL) /* longer than the whole file was */
            return gr_fail(ctx, "%s: the file changed after it was opened", path);
        return gr_fail(ctx, "%s:%lld: %s: field longer than %d bytes", path, line, name, GR_CSV_MAX_CELL);
    }
    return -1; /* GR_CSV_IO: the message is set */
}

static int cell_error(struct gr_ctx *ctx, const struct csv_state *st, int status, int64_t col) {
    const struct gr_csv_tok *t = &st->t;
    char name[96], text[200];
    column_name(st, col, name, sizeof name);
    show(text, sizeof text, t->text, t->n);
    const char *path = t->src->path;
    long long line = (long long)t->cell_line;
    switch (status) {
    case GR_NUM_EMPTY: return gr_fail(ctx, "%s:%lld: %s: empty cell, expected a number", path, line, name);
    case GR_NUM_NAN: return gr_fail(ctx, "%s:%lld: %s: NaN is not allowed: '%s'", path, line, name, text);
    case GR_NUM_INF: return gr_fail(ctx, "%s:%lld: %s: infinity is not allowed: '%s'", path, line, name, text);
    case GR_NUM_RANGE: return gr_fail(ctx, "%s:%lld: %s: beyond float32's range: '%s'", path, line, name, text);
    }
    return gr_fail(ctx, "%s:%lld: %s: not a number: '%s'", path, line, name, text);
}

/* ---- passes ------------------------------------------------------------------- */

/* The first row's cells, kept as the header's names; *numeric whether
 * every one of them is a number. */
static int first_row(struct gr_ctx *ctx, struct csv_state *st, int *numeric) {
    struct gr_csv_tok *t = &st->t;
    if (gr_csv_tok_start(ctx, t)) return -1;
    int cap = 0, r = GR_CSV_FIELD;
    *numeric = 1;
    while (r == GR_CSV_FIELD) {
        r = gr_csv_next_field(ctx, t);
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
        struct gr_num v;
        *numeric &= gr_number_parse(t->text, t->n, t->cell, &v) == GR_NUM_OK;
    }
    if (st->n_cols == 1 && t->n == 0 && !t->quoted && r == GR_CSV_EOF)
        return gr_fail(ctx, "%s: no rows (the file holds only a byte-order mark)", t->src->path);
    return 0;
}

static int changed(struct gr_ctx *ctx, const struct csv_state *st) {
    return gr_fail(ctx, "%s: the file changed after it was opened (it had %lld rows)", st->t.src->path,
                   (long long)st->n_rows);
}

/* One cell's value, checked (reading 0) or kept in the buffers. */
static int keep(struct gr_ctx *ctx, struct csv_state *st, int slot, int64_t row, int reading, float *features,
                void *labels, const struct gr_num *v) {
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

/* One pass over the data rows: counting and checking (reading 0), or
 * parsing into the buffers that are not NULL. Returns the rows, or -1. */
static int64_t pass(struct gr_ctx *ctx, struct csv_state *st, int reading, float *features, void *labels) {
    struct gr_csv_tok *t = &st->t;
    const char *path = t->src->path;
    if (gr_csv_tok_start(ctx, t)) return -1;
    int64_t row = st->has_header ? -1 : 0;
    for (int r = GR_CSV_ROW; r != GR_CSV_EOF; row++) {
        int64_t row_line = t->line, col = 0; /* a ragged row's fields may be many */
        for (r = GR_CSV_FIELD; r == GR_CSV_FIELD; col++) {
            int slot = row >= 0 && col < st->n_cols ? st->slot[col] : SLOT_SKIP;
            int wanted = slot != SLOT_SKIP && (!reading || (slot >= 0 ? features != NULL : labels != NULL));
            struct gr_num v;
            if (wanted && (r = gr_csv_fast_field(t, &v)) >= 0) {
                if (reading && row >= st->n_rows) return changed(ctx, st);
                if (keep(ctx, st, slot, row, reading, features, labels, &v)) return -1;
                continue;
            }
            r = gr_csv_next_field(ctx, t);
            if (r < 0) return tok_error(ctx, st, r, col);
            if (col == 0 && r != GR_CSV_FIELD && t->n == 0 && !t->quoted) {
                if (r == GR_CSV_EOF) return row;
                if (st->n_cols > 1)
                    return gr_fail(ctx, "%s:%lld: empty line (expected %d fields)", path, (long long)row_line,
                                   st->n_cols);
            }
            if (!wanted) continue;
            if (reading && row >= st->n_rows) return changed(ctx, st);
            int status = gr_number_parse(t->text, t->n, t->cell, &v);
            if (status != GR_NUM_OK) return cell_error(ctx, st, status, col);
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
    if (found < 0) {
        /* the header as split, so that a wrong delimiter or a typo shows */
        char names[256], delim[8];
        size_t at = 0;
        int i = 0;
        for (; i < st->n_cols && i < 4; i++) {
            char one[56];
            show(one, sizeof one, st->names[i], strlen(st->names[i]));
            at += (size_t)snprintf(names + at, sizeof names - at, "%s'%s'", i ? ", " : "", one);
        }
        if (i < st->n_cols) snprintf(names + at, sizeof names - at, ", ... %d more", st->n_cols - i);
        snprintf(delim, sizeof delim, st->t.delim == '\t' ? "a tab" : "'%c'", st->t.delim);
        const char *near = gr_closest(c->name, (const char *const *)st->names, st->n_cols);
        char shown[56] = "";
        if (near) show(shown, sizeof shown, near, strlen(near));
        return gr_fail(ctx, "%s: no column named '%s' in the header row (%d column%s split at %s: %s)%s%s%s", path,
                       c->name, st->n_cols, st->n_cols == 1 ? "" : "s", delim, names, near ? "; did you mean '" : "",
                       shown, near ? "'?" : "");
    }
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
    gr_csv_tok_free(ctx, &st->t);
    gr_free(ctx, st);
    src->state = NULL;
}

static int csv_open(struct gr_ctx *ctx, struct gr_source *src, const struct gr_read_opts *o) {
    char delim = o->delimiter ? o->delimiter : ',';
    if (check_delimiter(ctx, src->path, delim)) return -1;
    struct csv_state *st = gr_calloc(ctx, 1, sizeof *st);
    if (!st) return -1;
    src->state = st;
    if (gr_csv_tok_init(ctx, &st->t, src, delim)) return -1;
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
