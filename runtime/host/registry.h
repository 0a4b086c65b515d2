/* The registry: ops, optimizers and schedules known by name. Built-in ops enter it
 * through gr_builtin_init (ops/builtin.c), which has the same type as a
 * plugin's entry point and reaches the registry through the same host
 * table; built-in optimizers come from runtime/optim/builtin.c and schedules
 * from runtime/schedule/builtin.c. Every
 * descriptor is checked as it enters, so the runtime can trust it. */
#ifndef GR_REGISTRY_H
#define GR_REGISTRY_H

#include <stddef.h>

#include "graphrun/plugin.h"

struct gr_ctx;
struct gr_optim_desc;
struct gr_sched_desc;

#define GR_MAX_OPTIMIZERS 64
#define GR_MAX_SCHEDULES 64

struct gr_op_entry {
    const struct gr_op_desc *desc; /* the registry's copy, of today's size */
    const char *origin; /* "built-in" or the plugin's path */
};

struct gr_registry {
    struct gr_ctx *ctx;
    struct gr_op_entry *ops;
    int n, cap;
    const struct gr_optim_desc **optims;
    int n_optims, cap_optims;
    const struct gr_sched_desc **scheds;
    int n_scheds, cap_scheds;
    const char *origin;  /* origin given to ops registered now */
    /* Bytes of a descriptor registered now, as its code's header declared
     * struct gr_op_desc: sizeof for built-ins, a plugin's sizeof_op_desc
     * while it loads. The registry copies that many into a zero-filled
     * descriptor of today's size, so an older plugin's descriptor reads as
     * having none of the fields grown since. */
    size_t desc_size;
    int allow_internal;  /* may register GR_OP_INPUT / GR_OP_PARAM / GR_OP_FUSES_POOL ops */
};

/* An empty registry; gr_registry_add_builtins fills it. */
struct gr_registry *gr_registry_new(struct gr_ctx *ctx);
void gr_registry_free(struct gr_ctx *ctx, struct gr_registry *reg);
/* The built-in ops (through `ops`, called like a plugin's entry point, the
 * only caller allowed to register input and param), optimizers and
 * schedules. */
int gr_registry_add_builtins(struct gr_registry *reg, gr_plugin_init_fn ops, char *err, size_t len);

/* Drop the ops registered after the first n (a plugin that failed). */
void gr_registry_truncate(struct gr_registry *reg, int n);
/* Check an op descriptor and add a copy of it (the host table's register_op). */
int gr_registry_add_op(struct gr_registry *reg, const struct gr_op_desc *desc, char *err, size_t err_len);
const struct gr_op_desc *gr_registry_find(const struct gr_registry *reg, const char *name);
const struct gr_op_entry *gr_registry_entry(const struct gr_registry *reg, const char *name);
/* The registered op name closest to `name` (edit distance), or NULL if none is close. */
const char *gr_registry_suggest(const struct gr_registry *reg, const char *name);

int gr_registry_add_optimizer(struct gr_registry *reg, const struct gr_optim_desc *desc, char *err, size_t len);
const struct gr_optim_desc *gr_registry_optimizer(const struct gr_registry *reg, const char *name);
const char *gr_registry_suggest_optimizer(const struct gr_registry *reg, const char *name);

int gr_registry_add_schedule(struct gr_registry *reg, const struct gr_sched_desc *desc, char *err, size_t len);
const struct gr_sched_desc *gr_registry_schedule(const struct gr_registry *reg, const char *name);
const char *gr_registry_suggest_schedule(const struct gr_registry *reg, const char *name);

#endif
