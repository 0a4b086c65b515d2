/* The config suites' fixture (tests/config_cases.c). */
#ifndef GR_TESTS_CONFIG_CASES_H
#define GR_TESTS_CONFIG_CASES_H

#include <stddef.h>

/* A small valid config (17 lines); cases replace one of its lines (1-based). */
extern const char *const cfg_base[];
extern const int cfg_n_base;
#define N_BASE cfg_n_base
/* The base config with line `line` replaced by `text` (NULL: the base), and
 * line2 by text2. */
void with_lines(char *out, size_t len, int line, const char *text, int line2, const char *text2);
void with_line(char *out, size_t len, int line, const char *text);

/* A temporary folder holding a tiny dataset: 20 training and 10 test 4x4
 * images with labels 0..2 (tr-img, tr-lab, te-img, te-lab). */
extern char tmpdir[64];
void make_data(void);
void remove_data(void);
/* a copy of tr-img under a name YAML has to quote (the run text's test) */
#define ODD_NAME "tr img # x: 'q' \"d\"\nline2"

/* Load `text` through everything up to the first training step. Returns 0,
 * or -1 with the message in `err`. */
int open_config(const char *text, char *err, size_t len);

struct gr_ctx;
struct gr_config;
/* Parse the base config with overrides; 0 or -1 with ctx->err. */
int parse_with(struct gr_ctx *ctx, struct gr_config *cfg, const char *const *sets, int n);

#endif
