/* Strict reading of YAML values. Every reader takes `what` - the context a
 * user needs, such as "node 'lstm': num_units" - and on a bad value records
 * "FILE:LINE:COL: what: expected ..., got ..." and returns -1. */
#ifndef GR_CHECK_H
#define GR_CHECK_H

#include <stdint.h>

#include "graphrun/plugin.h"
#include "runtime/yaml/yaml.h"

struct gr_ctx;

/* The node must be of `kind`. */
int gr_need_kind(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n, enum gr_ykind kind,
                 const char *what);

/* Every key of `map` must be in the NULL-terminated `allowed`; otherwise
 * "unknown key 'x' in WHAT (did you mean 'y'?)". */
int gr_check_keys(struct gr_ctx *ctx, const char *file, const struct gr_ynode *map,
                  const char *const *allowed, const char *what);

int gr_read_int(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n, int64_t min, int64_t max,
                const char *what, int64_t *out);
int gr_read_float(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n, double min, double max,
                  const char *what, double *out);
/* The same in (min, max]: min itself refused. */
int gr_read_float_above(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n, double min, double max,
                        const char *what, double *out);
int gr_read_bool(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n, const char *what, int *out);
int gr_read_string(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n, const char *what,
                   const char **out);
/* One of the NULL-terminated `choices`, with a suggestion when close. */
int gr_read_choice(struct gr_ctx *ctx, const char *file, const struct gr_ynode *n,
                   const char *const *choices, const char *what, int *out);

/* Read an op attribute by its spec into `v`. */
int gr_attr_read(struct gr_ctx *ctx, const char *file, const struct gr_attr_spec *spec,
                 const struct gr_ynode *n, const char *what, struct gr_attr_value *v);
/* Fill `v` from the spec's default text (or mark it absent). */
int gr_attr_default(struct gr_ctx *ctx, const struct gr_attr_spec *spec, const char *what,
                    struct gr_attr_value *v);


#endif
