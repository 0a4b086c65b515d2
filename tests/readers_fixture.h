/* What the reader suites (test_readers.c, test_readers_csv.c) share: a
 * context and a scratch folder for each test (TestSuite(readers, .init =
 * setup, .fini = teardown)), and opening, reading and refusing files. */
#ifndef GR_TESTS_READERS_FIXTURE_H
#define GR_TESTS_READERS_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/base/ctx.h"
#include "runtime/data/reader.h"

#define FIX GR_SOURCE_DIR "/tests/fixtures"
#define BAD GR_SOURCE_DIR "/tests/bad/data"

extern struct gr_ctx ctx;
extern char dir[64];

void setup(void);
void teardown(void);
/* dir/name; a few stay valid at once */
const char *tmp_path(const char *name);
void write_file(const char *path, const void *data, size_t n);
void open_ok(struct gr_source *s, const char *path, const char *format, const struct gr_read_opts *o);
/* Array k read into a fresh buffer (free it). */
void *read_ok(struct gr_source *s, int k);
void expect_shape(const struct gr_array_info *a, int rank, const int64_t *dims);
/* a csv array's column names */
void expect_columns(const struct gr_array_info *a, int n, const char *const *names);
/* Open and read every array; the message of whichever step refused. */
const char *refusal(const char *path, const char *format, const struct gr_read_opts *o);
/* That refusal, exactly `want`, on one line. */
void expect_refusal(const char *path, const char *format, const struct gr_read_opts *o, const char *want);

#endif
