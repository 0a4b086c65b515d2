#include "runtime/base/escape.h"

int gr_utf8_len(const unsigned char *s) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    /* lead byte: the sequence's length and the range of its second byte
     * (which rules out overlong forms, surrogates and > U+10FFFF) */
    int n;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int k = 2; k < n; k++)
        if (s[k] < 0x80 || s[k] > 0xbf) return 0;
    return n;
}

/* Writes s, each well-formed multi-byte UTF-8 sequence as it is; each
 * other byte goes to `esc` (with bad = 1 if it is not UTF-8), which
 * writes its replacement and returns 1, or returns 0 to have the byte
 * written as it is. EOF after a write error. */
typedef int (*esc_fn)(FILE *f, unsigned char c, int bad);

static int put_escaped(FILE *f, const char *s, esc_fn esc) {
    int r = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && r != EOF;) {
        int n = gr_utf8_len(p);
        if (n > 1) {
            for (int k = 0; k < n && r != EOF; k++) r = fputc(*p++, f);
            continue;
        }
        r = esc(f, *p, n == 0);
        if (r == 0) r = fputc(*p, f);
        p++;
    }
    return r == EOF ? EOF : 0;
}

static int ctrl(unsigned char c) { return c < 0x20 || c == 0x7f; }

static int put(FILE *f, const char *s) { return fputs(s, f) == EOF ? EOF : 1; }

static int json_esc(FILE *f, unsigned char c, int bad) {
    static const char shorts[] = "\"\"" "\\\\" "\bb" "\ff" "\nn" "\rr" "\tt"; /* byte, its letter */
    if (bad) return put(f, "\\ufffd"); /* the replacement character */
    for (int k = 0; shorts[k]; k += 2)
        if (c == (unsigned char)shorts[k]) return fprintf(f, "\\%c", shorts[k + 1]) < 0 ? EOF : 1;
    if (ctrl(c)) return fprintf(f, "\\u%04x", c) < 0 ? EOF : 1;
    return 0;
}

static int dot_esc(FILE *f, unsigned char c, int bad) {
    if (c == '"') return put(f, "\\\"");
    if (c == '\\') return put(f, "\\\\");
    if (c == '\n') return put(f, "\\n");
    return bad || ctrl(c) ? put(f, "?") : 0;
}

static int gnuplot_esc(FILE *f, unsigned char c, int bad) {
    if (c == '\'') return put(f, "''");
    return bad || ctrl(c) ? put(f, "?") : 0;
}

static int text_esc(FILE *f, unsigned char c, int bad) {
    if (c == '\\') return put(f, "\\\\");
    if (c == '\n') return put(f, "\\n");
    if (c == '\t') return put(f, "\\t");
    if (c == '\r') return put(f, "\\r");
    return bad || ctrl(c) ? (fprintf(f, "\\x%02x", c) < 0 ? EOF : 1) : 0;
}

static int quoted(FILE *f, const char *s, int q, esc_fn esc) {
    if (fputc(q, f) == EOF || put_escaped(f, s, esc) == EOF) return EOF;
    return fputc(q, f) == EOF ? EOF : 0;
}

int gr_put_json_string(FILE *f, const char *s) { return quoted(f, s, '"', json_esc); }
int gr_put_dot_string(FILE *f, const char *s) { return quoted(f, s, '"', dot_esc); }
int gr_put_gnuplot_string(FILE *f, const char *s) { return quoted(f, s, '\'', gnuplot_esc); }
int gr_put_text(FILE *f, const char *s) { return put_escaped(f, s, text_esc); }
