/* The numbers of a CSV file: a decimal, optionally signed, with an optional
 * exponent, spaces or tabs around it allowed; nothing else (no empty cells,
 * NaN, infinity or hexadecimal). Values round to the nearest float32 exactly
 * as strtof rounds them; a value beyond float32's range is refused.
 *
 * Integers of up to 7 digits, and decimals whose significand fits in 24 bits
 * with an exponent within 10, take Clinger's fast path (one correctly
 * rounded float multiplication or division of exact operands, so the result
 * is strtof's); every other number goes to strtof. */
#ifndef GR_DATA_CSV_NUMBER_H
#define GR_DATA_CSV_NUMBER_H

#include <stddef.h>
#include <stdint.h>

enum gr_num_status { GR_NUM_OK, GR_NUM_EMPTY, GR_NUM_BAD, GR_NUM_NAN, GR_NUM_INF, GR_NUM_RANGE };

struct gr_num {
    float f;
    int is_int; /* written as an integer that fits int32 */
    int32_t i;
};

/* A decimal as written: [+-] digits [. digits] [(e|E) [+-] digits]. */
struct gr_decimal {
    uint64_t m;   /* the first 19 significant digits */
    int64_t iv;   /* the integer part, saturating above 2^40 */
    int exp10;    /* value = m * 10^exp10, unless `long` */
    int digits;   /* of the significand; 0: not a number */
    int neg, is_long, frac_nonzero, has_exp;
};

/* Scan a decimal from p (up to e); returns where it stops. */
const char *gr_decimal_scan(const char *p, const char *e, struct gr_decimal *d);
/* The value, when Clinger's fast path gives it (and whether it is an
 * int32, always); 0: strtof must say. */
int gr_decimal_value(const struct gr_decimal *d, struct gr_num *out);
/* A cell's number (n bytes at s); scratch holds n + 1 bytes, for strtof.
 * Returns a gr_num_status. */
int gr_number_parse(const char *s, size_t n, char *scratch, struct gr_num *out);

#endif
