/* The csv reader on good files written by hand (tests/fixtures/csv), its
 * options, its numbers against strtof, and every broken file of
 * tests/bad/data (npy, npz and csv): each refused with one line that names
 * the file and, for CSV, the line. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "readers_fixture.h"

TestSuite(readers, .init = setup, .fini = teardown);

/* ---- csv -------------------------------------------------------------------- */

static void expect_floats(const float *got, const float *want, int n, const char *what) {
    for (int i = 0; i < n; i++) cr_expect_eq(got[i], want[i], "%s[%d] = %g, expected %g", what, i, got[i], want[i]);
}

Test(readers, csv_header_detected_and_the_last_column_as_labels) {
    struct gr_source s;
    struct gr_column last = {NULL, -1};
    open_ok(&s, FIX "/csv/basic.csv", NULL, &(struct gr_read_opts){.label = &last});
    cr_assert_eq(s.n_arrays, 2);
    cr_expect_str_eq(s.arrays[0].name, "features");
    cr_expect_str_eq(s.arrays[1].name, "labels");
    expect_shape(&s.arrays[0], 2, (int64_t[]){3, 2});
    expect_shape(&s.arrays[1], 1, (int64_t[]){3});
    cr_expect_eq(s.arrays[0].type, GR_ARRAY_F32);
    cr_expect_eq(s.arrays[1].type, GR_ARRAY_I32, "labels written as integers are int32");
    expect_columns(&s.arrays[0], 2, (const char *[]){"a", "b"});
    expect_columns(&s.arrays[1], 1, (const char *[]){"label"});
    float *f = read_ok(&s, 0);
    expect_floats(f, (float[]){1, 2, 3.5f, -4, 1000, 0.25f}, 6, "features");
    int32_t *l = read_ok(&s, 1);
    cr_expect(l[0] == 0 && l[1] == 1 && l[2] == 2, "labels %d %d %d", l[0], l[1], l[2]);
    free(f);
    free(l);
    gr_source_close(&ctx, &s);
}

Test(readers, csv_quotes_crlf_bom_and_chosen_columns_by_name) {
    struct gr_source s;
    struct gr_column label = {"label", 0}, feats[] = {{"x, first", 0}, {"y", 0}, {"id", 0}};
    open_ok(&s, FIX "/csv/quoted.csv", NULL, &(struct gr_read_opts){.label = &label, .features = feats, .n_features = 3});
    expect_shape(&s.arrays[0], 2, (int64_t[]){3, 3});
    expect_columns(&s.arrays[0], 3, (const char *[]){"x, first", "y", "id"});
    cr_expect_eq(s.arrays[1].type, GR_ARRAY_I32, "\"4.0\" is an integer");
    float *f = read_ok(&s, 0);
    /* the note column (text with a quoted comma, line break and quotes) is never parsed */
    expect_floats(f, (float[]){0.5f, -1, 1, 1.5f, 20, 2, 2.5f, -0.0f, 3}, 9, "features");
    cr_expect(signbit(f[7]), "\"-0\" keeps its sign");
    int32_t *l = read_ok(&s, 1);
    cr_expect(l[0] == 3 && l[1] == 4 && l[2] == 5, "labels %d %d %d", l[0], l[1], l[2]);
    free(f);
    free(l);
    gr_source_close(&ctx, &s);
}

Test(readers, csv_without_a_header_and_with_header_forced) {
    struct gr_source s;
    struct gr_column first = {NULL, 0};
    open_ok(&s, FIX "/csv/noheader.csv", NULL, &(struct gr_read_opts){.label = &first});
    expect_shape(&s.arrays[0], 2, (int64_t[]){2, 2});
    expect_columns(&s.arrays[0], 2, (const char *[]){"1", "2"});
    float *f = read_ok(&s, 0);
    expect_floats(f, (float[]){2, 3, 5, 6}, 4, "features");
    int32_t *l = read_ok(&s, 1);
    cr_expect(l[0] == 1 && l[1] == 4);
    free(f);
    free(l);
    gr_source_close(&ctx, &s);
    /* told there is a header, the first row names the columns */
    open_ok(&s, FIX "/csv/noheader.csv", NULL, &(struct gr_read_opts){.label = &first, .header = GR_CSV_HEADER_YES});
    expect_shape(&s.arrays[0], 2, (int64_t[]){1, 2});
    expect_columns(&s.arrays[0], 2, (const char *[]){"2", "3"});
    gr_source_close(&ctx, &s);
    /* told there is none, the header's names are cells that are not numbers */
    expect_refusal(FIX "/csv/basic.csv", NULL, &(struct gr_read_opts){.label = &first, .header = GR_CSV_HEADER_NO},
                   FIX "/csv/basic.csv:1: column 0: not a number: 'a'");
}

Test(readers, csv_delimiter_spaces_and_float_labels) {
    struct gr_source s;
    struct gr_column target = {"target", 0};
    open_ok(&s, FIX "/csv/semicolon.csv", NULL, &(struct gr_read_opts){.delimiter = ';', .label = &target});
    cr_expect_eq(s.arrays[1].type, GR_ARRAY_F32, "labels that are not all integers are float32");
    float *f = read_ok(&s, 0), *l = read_ok(&s, 1);
    expect_floats(f, (float[]){1, 2, 3, 4, 5, 6}, 6, "features");
    expect_floats(l, (float[]){0.5f, -1.25f, 1e-3f}, 3, "labels");
    free(f);
    free(l);
    gr_source_close(&ctx, &s);
    open_ok(&s, FIX "/csv/regression.csv", NULL, &(struct gr_read_opts){.label = &target});
    l = read_ok(&s, 1);
    expect_floats(l, (float[]){2.5f, 3, -1}, 3, "labels");
    free(l);
    gr_source_close(&ctx, &s);
}

Test(readers, csv_columns_by_index_and_one_pass_for_both_arrays) {
    struct gr_source s;
    struct gr_column b = {NULL, -2}, feats[] = {{NULL, 2}, {NULL, 0}};
    open_ok(&s, FIX "/csv/basic.csv", NULL, &(struct gr_read_opts){.label = &b, .features = feats, .n_features = 2});
    expect_columns(&s.arrays[0], 2, (const char *[]){"label", "a"});
    expect_columns(&s.arrays[1], 1, (const char *[]){"b"});
    cr_expect_eq(s.arrays[1].type, GR_ARRAY_F32, "0.25 makes the column float32");
    float f[6], l[3];
    cr_assert_eq(gr_source_read_all(&ctx, &s, (void *[]){f, l}), 0, "%s", ctx.err);
    expect_floats(f, (float[]){0, 1, 1, 3.5f, 2, 1000}, 6, "features");
    expect_floats(l, (float[]){2, -4, 0.25f}, 3, "labels");
    gr_source_close(&ctx, &s);
    open_ok(&s, FIX "/csv/no-final-newline.csv", NULL, &(struct gr_read_opts){.label = &b});
    expect_shape(&s.arrays[0], 2, (int64_t[]){2, 1});
    gr_source_close(&ctx, &s);
    /* no label: every column is a feature */
    open_ok(&s, FIX "/csv/basic.csv", NULL, NULL);
    cr_expect_eq(s.n_arrays, 1);
    expect_shape(&s.arrays[0], 2, (int64_t[]){3, 3});
    gr_source_close(&ctx, &s);
}

Test(readers, csv_labels_are_int32_only_when_every_one_is_written_as_an_integer) {
    struct gr_column last = {NULL, -1};
    struct {
        const char *text;
        enum gr_array_type type;
    } cases[] = {
        {"a,y\n1,3\n2,-7\n3,0\n", GR_ARRAY_I32},       {"a,y\n1,3.0\n2,-7.000\n3,+0\n", GR_ARRAY_I32},
        {"a,y\n1,3\n2,3e0\n", GR_ARRAY_F32},           {"a,y\n1,3\n2,2147483648\n", GR_ARRAY_F32},
        {"a,y\n1,-2147483648\n2,2147483647\n", GR_ARRAY_I32}, {"a,y\n1,3\n2,3.5\n", GR_ARRAY_F32},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(tmp_path("labels.csv"), cases[i].text, strlen(cases[i].text));
        struct gr_source s;
        open_ok(&s, tmp_path("labels.csv"), NULL, &(struct gr_read_opts){.label = &last});
        cr_expect_eq(s.arrays[1].type, cases[i].type, "%s", cases[i].text);
        if (cases[i].type == GR_ARRAY_I32 && i == 4) {
            int32_t *l = read_ok(&s, 1);
            cr_expect(l[0] == INT32_MIN && l[1] == INT32_MAX);
            free(l);
        }
        gr_source_close(&ctx, &s);
    }
}

Test(readers, csv_options_that_do_not_fit_the_file) {
    struct gr_column y = {"y", 0}, three = {NULL, 3}, minus4 = {NULL, -4}, label = {"label", 0}, nope = {"nope", 0};
    struct gr_column a2[] = {{"a", 0}, {"a", 0}}, with_label[] = {{"a", 0}, {"label", 0}};
    char want[512];
    expect_refusal(FIX "/csv/noheader.csv", NULL, &(struct gr_read_opts){.label = &y},
                   FIX "/csv/noheader.csv: label column 'y' is given by name, but the file has no header row");
    expect_refusal(FIX "/csv/basic.csv", NULL, &(struct gr_read_opts){.label = &nope},
                   FIX "/csv/basic.csv: no column named 'nope' in the header row (3 columns split at ',': 'a', 'b', "
                       "'label')");
    /* the header as split shows a wrong delimiter and a typo */
    expect_refusal(FIX "/csv/basic.csv", NULL, &(struct gr_read_opts){.label = &label, .delimiter = ';'},
                   FIX "/csv/basic.csv: no column named 'label' in the header row (1 column split at ';': 'a,b,label')");
    expect_refusal(FIX "/csv/basic.csv", NULL, &(struct gr_read_opts){.label = &(struct gr_column){"lable", 0}},
                   FIX "/csv/basic.csv: no column named 'lable' in the header row (3 columns split at ',': 'a', 'b', "
                       "'label'); did you mean 'label'?");
    expect_refusal(FIX "/csv/basic.csv", NULL, &(struct gr_read_opts){.label = &three},
                   FIX "/csv/basic.csv: label column 3 is out of range: the rows have 3 columns");
    expect_refusal(FIX "/csv/basic.csv", NULL, &(struct gr_read_opts){.label = &minus4},
                   FIX "/csv/basic.csv: label column -4 is out of range: the rows have 3 columns");
    expect_refusal(FIX "/csv/basic.csv", NULL,
                   &(struct gr_read_opts){.label = &label, .features = a2, .n_features = 2},
                   FIX "/csv/basic.csv: column 'a' is chosen twice as a feature");
    expect_refusal(FIX "/csv/basic.csv", NULL,
                   &(struct gr_read_opts){.label = &label, .features = with_label, .n_features = 2},
                   FIX "/csv/basic.csv: column 'label' is the label column, and cannot be a feature too");
    expect_refusal(FIX "/csv/basic.csv", NULL, &(struct gr_read_opts){.label = &label, .delimiter = '.'},
                   FIX "/csv/basic.csv: '.' cannot be a csv delimiter (use ',', ';', a tab, '|' or other punctuation)");
    write_file(tmp_path("twice.csv"), "a,a,label\n1,2,3\n", 16);
    struct gr_column a = {"a", 0};
    snprintf(want, sizeof want, "%s: label column 'a' is ambiguous: columns 0 and 1 have that name",
             tmp_path("twice.csv"));
    expect_refusal(tmp_path("twice.csv"), NULL, &(struct gr_read_opts){.label = &a}, want);
    write_file(tmp_path("one.csv"), "y\n1\n", 4);
    snprintf(want, sizeof want, "%s: no feature columns (the rows have 1 column, one of them the label)",
             tmp_path("one.csv"));
    expect_refusal(tmp_path("one.csv"), NULL, &(struct gr_read_opts){.label = &y}, want);
    /* a long name is cut before a whole character, never inside one: 'a'
     * and 19 of 30 two-byte characters fit the 40 bytes shown */
    char head[128] = "a", shown[64] = "a";
    for (int i = 0; i < 30; i++) strcat(head, "\xc3\xa9");
    for (int i = 0; i < 19; i++) strcat(shown, "\xc3\xa9");
    strcat(head, ",label\n1,0\n");
    write_file(tmp_path("long.csv"), head, strlen(head));
    snprintf(want, sizeof want, "%s: no column named 'nope' in the header row (2 columns split at ',': '%s...', 'label')",
             tmp_path("long.csv"), shown);
    expect_refusal(tmp_path("long.csv"), NULL, &(struct gr_read_opts){.label = &nope}, want);
}

/* Decimal text like people's files hold: integers, fixed point, exponents,
 * leading zeros, long significands. */
static int random_number(char *buf, size_t cap, uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t r = *state >> 11;
    int digits = 1 + (int)(r % 12), point = (int)((r >> 4) % (unsigned)(digits + 2)) - 1;
    int at = 0;
    if ((r >> 8) & 1) buf[at++] = '-';
    for (int i = 0; i < digits; i++) {
        if (i == point) buf[at++] = '.';
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        buf[at++] = (char)('0' + (*state >> 33) % 10);
    }
    if ((r >> 12) % 3 == 0) at += snprintf(buf + at, cap - (size_t)at, "e%d", (int)((r >> 16) % 60) - 40);
    buf[at] = 0;
    return at;
}

Test(readers, csv_numbers_round_exactly_as_strtof) {
    enum { N = 200000 };
    FILE *f = fopen(tmp_path("numbers.csv"), "w");
    cr_assert(f);
    char (*text)[48] = malloc(N * sizeof *text);
    uint64_t state = 14;
    for (int i = 0; i < N; i++) {
        random_number(text[i], sizeof text[i], &state);
        fprintf(f, "%s%s\n", text[i], i % 3 ? "" : "\r"); /* LF and CRLF */
    }
    fclose(f);
    struct gr_source s;
    open_ok(&s, tmp_path("numbers.csv"), NULL, NULL);
    expect_shape(&s.arrays[0], 2, (int64_t[]){N, 1});
    float *v = read_ok(&s, 0);
    int wrong = 0;
    for (int i = 0; i < N; i++) {
        float want = strtof(text[i], NULL);
        if (memcmp(&want, &v[i], 4) != 0 && wrong++ < 5)
            cr_expect(0, "'%s' read as %a, strtof gives %a", text[i], v[i], want);
    }
    cr_expect_eq(wrong, 0, "%d of %d numbers differ from strtof", wrong, N);
    free(v);
    free(text);
    gr_source_close(&ctx, &s);
}

Test(readers, csv_limits_on_fields_and_columns) {
    /* a 70,000-byte field, then a row of 100,001 columns */
    size_t n = 70000 + 32;
    char *text = malloc(2 * 100001 + 32);
    int at = snprintf(text, n, "a,b\n1,");
    memset(text + at, '7', 70000);
    memcpy(text + at + 70000, "\n", 2);
    write_file(tmp_path("long.csv"), text, strlen(text));
    char want[512];
    snprintf(want, sizeof want, "%s:2: column 'b': field longer than 65536 bytes", tmp_path("long.csv"));
    expect_refusal(tmp_path("long.csv"), NULL, NULL, want);
    for (int i = 0; i < 100001; i++) memcpy(text + 2 * i, "1,", 2);
    text[2 * 100001 - 1] = '\n';
    write_file(tmp_path("wide.csv"), text, 2 * 100001);
    snprintf(want, sizeof want, "%s:1: more than 100000 columns", tmp_path("wide.csv"));
    expect_refusal(tmp_path("wide.csv"), NULL, NULL, want);
    free(text);
}

/* ---- the broken corpus ---------------------------------------------------------- */

static const struct {
    const char *file, *message; /* the message after the file's path */
} corpus[] = {
    {"npy-truncated.npy", ": header promises 24 bytes of data, the file has 20 (truncated)"},
    {"npy-trailing.npy", ": header promises 24 bytes of data, the file has 25 (trailing bytes)"},
    {"npy-bad-magic.npy", ": not a .npy file (magic 93 4e 55 4d 50 58, expected 93 4e 55 4d 50 59)"},
    {"npy-version-9.npy", ": npy format version 9.0 is not supported (graphrun reads 1.0, 2.0 and 3.0)"},
    {"npy-header-truncated.npy", ": truncated npy header (40 of 128 bytes)"},
    {"npy-lying-shape.npy", ": header promises 3136000000 bytes of data, the file has 24 (truncated)"},
    {"npy-unknown-key.npy",
     ": npy header, byte 68: unknown key 'order' (expected descr, fortran_order and shape)"},
    {"npy-missing-shape.npy", ": npy header has no 'shape' key"},
    {"npy-not-a-tuple.npy", ": npy header, byte 62: expected ',' before ')': a 1-tuple is written (N,), got ')'"},
    {"npy-fortran-maybe.npy", ": npy header, byte 44: expected True or False for fortran_order, got 'M'"},
    {"npy-0d.npy", ": a 0-d array (shape ()) is not a dataset: expected [N, ...]"},
    {"npy-zero-rows.npy", ": dimension 0 of shape [0, 3] is zero"},
    {"npy-object.npy", ": npy dtype '|O' (Python objects) is not supported; graphrun reads b1, u1, i1, u2, i2, u4, "
                       "i4, u8, i8, f4 and f8"},
    {"npy-unicode.npy", ": npy dtype '<U5' (unicode strings) is not supported; graphrun reads b1, u1, i1, u2, i2, "
                        "u4, i4, u8, i8, f4 and f8"},
    {"npy-float16.npy", ": npy dtype '<f2' (floats of that size) is not supported; graphrun reads b1, u1, i1, u2, "
                        "i2, u4, i4, u8, i8, f4 and f8"},
    {"npy-structured.npy",
     ": npy dtype is a structured dtype (a list of fields); graphrun reads arrays of single numbers"},
    {"npy-nan.npy", ": NaN at flat index 5"},
    {"npy-inf-big-endian.npy", ": -infinity at flat index 2"},
    {"npy-float64-overflow.npy", ": float64 value 1.0000000000000001e+300 at flat index 1 is beyond float32's range"},
    {"npy-uint64-too-big.npy", ": uint64 value 2147483648 at flat index 1 does not fit in int32"},
    {"npy-int64-big-endian-too-small.npy", ": int64 value -2147483649 at flat index 0 does not fit in int32"},
    {"npy-bool-2.npy", ": byte 2 at flat index 2 is not a bool (0 or 1)"},
    {"npy-fortran-nan.npy", ": NaN at flat index 2"},
    {"npz-bad-crc.npz", ": member 'x.npy': CRC-32 mismatch: the archive says 2a00e94f, the data gives 2bc28378"},
    {"npz-member-outside.npz",
     ": member 'y.npy': local header at byte 1048576 lies outside the archive's data (bytes 0 to 366)"},
    {"npz-overlap.npz", ": member 'y.npy' (bytes 35 to 214) overlaps member 'x.npy' (bytes 0 to 214)"},
    {"npz-encrypted.npz", ": member 'x.npy': is encrypted; graphrun reads unencrypted archives"},
    {"npz-bzip2.npz",
     ": member 'x.npy': compression method 12 (bzip2) is not supported (graphrun reads stored and deflated)"},
    {"npz-truncated.npz", ": no end of central directory record (a truncated zip archive?)"},
    {"npz-not-zip.npz", ": not a zip archive (magic 78 2c 79 0a, expected 50 4b 03 04)"},
    {"npz-text-member.npz", ": member 'readme.txt': not a .npy file (an npz archive holds NAME.npy members)"},
    {"npz-empty.npz", ": holds no arrays (an empty zip archive)"},
    {"npz-local-name.npz", ": member 'x.npy': local header disagrees with the central directory (name)"},
    {"npz-deflate-corrupt.npz", ": member 'x.npy': corrupt deflate data: invalid code -- missing end-of-block"},
    {"npz-member-nan.npz", ": member 'x.npy': NaN at flat index 3"},
    {"npz-crc-nan.npz", ": member 'x.npy': CRC-32 mismatch: the archive says 2a00e94f, the data gives f99bafd5"},
    {"npz-stored-sizes.npz", ": member 'x.npy': stored, but its compressed size 152 is not its size 160"},
    {"npz-deflate-ratio.npz",
     ": member 'x.npy': claims 1000000000 bytes from 85 compressed bytes, more than deflate can give"},
    {"npz-member-truncated.npz", ": member 'x.npy': header promises 400 bytes of data, the member holds 24 (truncated)"},
    {"npz-deflate-short.npz", ": member 'x.npy': deflate stream ends after 24 of 32 data bytes"},
    {"npz-cdir-offset.npz",
     ": central directory (51 bytes at byte 188) does not end where the end records start (byte 238)"},
    {"npz-multi-disk.npz", ": zip archive spans several disks; graphrun reads single files"},
    {"csv-empty.csv", ": file is empty"},
    {"csv-bom-only.csv", ": no rows (the file holds only a byte-order mark)"},
    {"csv-header-only.csv", ": no data rows after the header"},
    {"csv-ragged.csv", ":3: 2 fields, but the header row has 3"},
    {"csv-too-many-fields.csv", ":3: 4 fields, but the header row has 3"},
    {"csv-empty-line.csv", ":3: empty line (expected 3 fields)"},
    {"csv-not-a-number.csv", ":3: column 'b': not a number: 'abc'"},
    {"csv-label-not-a-number.csv", ":3: column 'label': not a number: 'cat'"},
    {"csv-empty-cell.csv", ":2: column 'b': empty cell, expected a number"},
    {"csv-nan.csv", ":2: column 'b': NaN is not allowed: 'nan'"},
    {"csv-infinity.csv", ":3: column 'a': infinity is not allowed: '-Infinity'"},
    {"csv-overflow.csv", ":2: column 'b': beyond float32's range: '1e39'"},
    {"csv-hex.csv", ":2: column 'a': not a number: '0x10'"},
    {"csv-trailing-garbage.csv", ":2: column 'a': not a number: '1.5abc'"},
    {"csv-unclosed-quote.csv", ":2: column 'b': quoted field is never closed"},
    {"csv-after-quote.csv", ":2: column 'b': 'x' after a closing quote (expected a delimiter or a line end)"},
    {"csv-stray-quote.csv",
     ":2: column 'b': a quote inside an unquoted field (quote the whole field, and double the quote)"},
    {"csv-bare-cr.csv", ":1: a carriage return not followed by a line feed (lines end with LF or CRLF)"},
    {"csv-quoted-newline.csv", ":4: column 'b\\nsecond line': not a number: 'x'"},
};

Test(readers, every_broken_file_is_refused_with_one_line) {
    struct gr_column last = {NULL, -1};
    struct gr_read_opts opts = {.label = &last};
    int per_format[3] = {0};
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        char path[512], want[1024];
        snprintf(path, sizeof path, BAD "/%s", corpus[i].file);
        snprintf(want, sizeof want, "%s%s", path, corpus[i].message);
        expect_refusal(path, NULL, &opts, want);
        per_format[corpus[i].file[2] == 'v' ? 2 : corpus[i].file[2] == 'z']++;
    }
    cr_expect(per_format[0] >= 10 && per_format[1] >= 10 && per_format[2] >= 10, "npy %d, npz %d, csv %d",
              per_format[0], per_format[1], per_format[2]);
}
