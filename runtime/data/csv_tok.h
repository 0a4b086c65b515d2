/* The fields of a CSV file, RFC 4180: separated by a delimiter, rows ended
 * by LF or CRLF; a field may be quoted ("..."), with "" for a quote inside
 * and delimiters and line ends taken literally. The file is read by pread in
 * chunks, one field at a time: a field inside the chunk is read in place, one
 * that spans two chunks, or was quoted, is gathered in `cell`. Line numbers
 * count the file's lines, a quoted field's line ends included. */
#ifndef GR_DATA_CSV_TOK_H
#define GR_DATA_CSV_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/data/csv_number.h"

struct gr_ctx;
struct gr_source;

#define GR_CSV_CHUNK ((size_t)1 << 20)
#define GR_CSV_MAX_CELL 65536

/* What ends a field, or (negative) what is wrong with it. */
enum gr_csv_end {
    GR_CSV_FIELD,   /* a delimiter: another field of the row follows */
    GR_CSV_ROW,     /* a line end */
    GR_CSV_EOF,     /* the end of the file */
    GR_CSV_IO = -1, /* a read error (the message is set) */
    GR_CSV_UNCLOSED = -2,
    GR_CSV_AFTER_QUOTE = -3,
    GR_CSV_STRAY_QUOTE = -4,
    GR_CSV_BARE_CR = -5,
    GR_CSV_TOO_LONG = -6,
};

struct gr_csv_tok {
    const struct gr_source *src;
    uint8_t *buf; /* buf_cap: GR_CSV_CHUNK, or less for a smaller file */
    size_t buf_cap, len, pos;
    uint64_t off;  /* of buf[len] in the file */
    int64_t line;  /* physical line of the next byte, 1-based */
    uint8_t special[256];
    char delim;
    /* the last field: n bytes at text, in buf or (when it spans two reads,
     * or was quoted) in cell */
    const char *text;
    char *cell; /* cell_cap + 1: GR_CSV_MAX_CELL, or less for a smaller file */
    size_t cell_cap, n;
    int quoted;
    int64_t cell_line;
    int bad_char; /* GR_CSV_AFTER_QUOTE: the byte after the quote */
};

/* Allocate the buffers for src's file with this delimiter. */
int gr_csv_tok_init(struct gr_ctx *ctx, struct gr_csv_tok *t, const struct gr_source *src, char delim);
void gr_csv_tok_free(struct gr_ctx *ctx, struct gr_csv_tok *t);
/* Back to the file's first byte (after a UTF-8 byte-order mark). */
int gr_csv_tok_start(struct gr_ctx *ctx, struct gr_csv_tok *t);
/* One field, at t->text: what follows it, or what is wrong. */
int gr_csv_next_field(struct gr_ctx *ctx, struct gr_csv_tok *t);
/* The common field, fast: an unquoted number that Clinger's path gives,
 * ending at the delimiter or a line end inside the buffer. GR_CSV_FIELD or
 * GR_CSV_ROW with the field consumed and its value in v, or -1 for the
 * general path (nothing consumed). */
int gr_csv_fast_field(struct gr_csv_tok *t, struct gr_num *v);

#endif
