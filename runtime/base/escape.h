/* Strings written into other programs' languages. Each writer puts `s` in
 * as one literal of that language, so that no byte of `s` can end the
 * literal, start a command or make the file invalid:
 *
 *   JSON     "..."  \" \\ \b \f \n \r \t, other control bytes as \u00XX,
 *                   bytes that are not UTF-8 as \ufffd (U+FFFD)
 *   DOT      "..."  \" \\ (so labels show a backslash), a newline as \n,
 *                   other control bytes and bytes that are not UTF-8 as ?
 *   gnuplot  '...'  ' doubled (a single-quoted gnuplot string knows no
 *                   other escape), control bytes and bytes that are not
 *                   UTF-8 as ?
 *   text     bare   for a comment or a message line: \\, \n, \t, \r and
 *                   other control bytes and non-UTF-8 bytes as \xNN, so
 *                   the text stays on one line
 *
 * Paths are better passed as data than escaped (tools/plot.c runs gnuplot
 * inside the run folder on fixed names); these are for what must be
 * written inline. Each returns EOF after a write error, else 0. */
#ifndef GR_ESCAPE_H
#define GR_ESCAPE_H

#include <stdio.h>

int gr_put_json_string(FILE *f, const char *s);
int gr_put_dot_string(FILE *f, const char *s);
int gr_put_gnuplot_string(FILE *f, const char *s);
int gr_put_text(FILE *f, const char *s);

/* The length (1-4) of the well-formed UTF-8 sequence at s (no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0 if s does not start
 * one. s is NUL-terminated. */
int gr_utf8_len(const unsigned char *s);

#endif
