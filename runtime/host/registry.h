/* The op registry: ops known by name. Built-in ops enter it through
 * gr_builtin_init, which has the same type as a plugin's entry point and
 * reaches the registry through the same host table. */
#ifndef GR_REGISTRY_H
#define GR_REGISTRY_H

#include "graphrun/plugin.h"

struct gr_ctx;

struct gr_op_entry {
    const struct gr_op_desc *desc;
    const char *origin; /* "built-in" or the plugin's path */
};

struct gr_registry {
    struct gr_ctx *ctx;
    struct gr_op_entry *ops;
    int n, cap;
    const char *origin;  /* origin given to ops registered now */
    int allow_internal;  /* may register GR_OP_INPUT / GR_OP_PARAM ops */
};

struct gr_registry *gr_registry_new(struct gr_ctx *ctx);
void gr_registry_free(struct gr_ctx *ctx, struct gr_registry *reg);
const struct gr_op_desc *gr_registry_find(const struct gr_registry *reg, const char *name);
const struct gr_op_entry *gr_registry_entry(const struct gr_registry *reg, const char *name);
/* The registered name closest to `name` (edit distance), or NULL if none is close. */
const char *gr_registry_suggest(const struct gr_registry *reg, const char *name);

/* Fill the host table handed to ops and plugins. */
void gr_host_init(struct gr_host *host);
/* Threads OpenBLAS may use for one product. */
void gr_blas_set_threads(int n);

/* ops/builtin.c: registers every built-in op. */
int gr_builtin_init(const struct gr_host *host, void *host_ctx, char *err, size_t err_len);

#endif
