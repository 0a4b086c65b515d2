#include "runtime/host/registry.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/base/text.h"
#include "runtime/optim/optimizer.h"
#include "runtime/schedule/schedule.h"
#include "runtime/yaml/check.h"

struct gr_registry *gr_registry_new(struct gr_ctx *ctx) {
    struct gr_registry *reg = gr_calloc(ctx, 1, sizeof *reg);
    if (!reg) return NULL;
    reg->ctx = ctx;
    reg->origin = "built-in";
    reg->desc_size = sizeof(struct gr_op_desc);
    return reg;
}

void gr_registry_truncate(struct gr_registry *reg, int n) {
    while (reg->n > n) gr_free(reg->ctx, (void *)reg->ops[--reg->n].desc);
}

void gr_registry_free(struct gr_ctx *ctx, struct gr_registry *reg) {
    gr_registry_truncate(reg, 0);
    gr_free(ctx, reg->ops);
    gr_free(ctx, reg->optims);
    gr_free(ctx, reg->scheds);
    gr_free(ctx, reg);
}

int gr_registry_add_builtins(struct gr_registry *reg, gr_plugin_init_fn ops, char *err, size_t len) {
    reg->allow_internal = 1;
    int rc = ops(&reg->ctx->host, reg->ctx, err, len);
    reg->allow_internal = 0;
    for (int i = 0; rc == 0 && i < gr_optim_builtin_count; i++)
        rc = gr_registry_add_optimizer(reg, gr_optim_builtin[i], err, len);
    for (int i = 0; rc == 0 && i < gr_sched_builtin_count; i++)
        rc = gr_registry_add_schedule(reg, gr_sched_builtin[i], err, len);
    return rc;
}

const struct gr_op_entry *gr_registry_entry(const struct gr_registry *reg, const char *name) {
    for (int i = 0; i < reg->n; i++)
        if (strcmp(reg->ops[i].desc->name, name) == 0) return &reg->ops[i];
    return NULL;
}

const struct gr_op_desc *gr_registry_find(const struct gr_registry *reg, const char *name) {
    const struct gr_op_entry *e = gr_registry_entry(reg, name);
    return e ? e->desc : NULL;
}

const char *gr_registry_suggest(const struct gr_registry *reg, const char *name) {
    struct gr_suggest sg;
    gr_suggest_init(&sg, name);
    for (int i = 0; i < reg->n; i++)
        if (!(reg->ops[i].desc->flags & GR_OP_PARAM)) gr_suggest_offer(&sg, reg->ops[i].desc->name);
    return gr_suggest_best(&sg);
}

static int valid_name(const char *s) {
    if (!s || !*s || strlen(s) > 63) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
    return 1;
}

/* The parameter and state tables: counts, names (distinct across both, so
 * their nodes' names are), initializers. */
static int check_weights(const struct gr_op_desc *d, char *err, size_t len) {
    const char *n = d->name;
    if (d->n_params < 0 || d->n_params > GR_MAX_PARAMS || (d->n_params && !d->params))
        return snprintf(err, len, "op '%s': n_params must be 0..%d with a params table", n, GR_MAX_PARAMS), -1;
    if (d->n_state < 0 || d->n_state > GR_MAX_PARAMS || (d->n_state && !d->state))
        return snprintf(err, len, "op '%s': n_state must be 0..%d with a state table", n, GR_MAX_PARAMS), -1;
    /* in 64 bits: a max_inputs near INT_MAX wrapped the sum below the limit */
    if ((int64_t)d->max_inputs + d->n_params + d->n_state > GR_MAX_INPUTS)
        return snprintf(err, len, "op '%s': max_inputs + n_params + n_state exceeds %d", n, GR_MAX_INPUTS), -1;
    for (int i = 0; i < d->n_params + d->n_state; i++) {
        int state = i >= d->n_params;
        const struct gr_param_spec *p = state ? &d->state[i - d->n_params] : &d->params[i];
        const char *what = state ? "state" : "parameter";
        if (!valid_name(p->name)) return snprintf(err, len, "op '%s': %s %d has an invalid name", n, what, i), -1;
        if ((unsigned)p->init >= GR_INIT_COUNT)
            return snprintf(err, len, "op '%s': %s '%s' has an unknown initializer", n, what, p->name), -1;
        for (int j = 0; j < i; j++) {
            const struct gr_param_spec *q = j >= d->n_params ? &d->state[j - d->n_params] : &d->params[j];
            if (strcmp(p->name, q->name) == 0)
                return snprintf(err, len, "op '%s': %s '%s' declared twice", n, what, p->name), -1;
        }
    }
    return 0;
}

/* Everything a descriptor must get right, checked once at registration so the
 * runtime can trust it afterwards. */
static int check_desc(struct gr_registry *reg, const struct gr_op_desc *d, char *err, size_t len) {
    if (!d) return snprintf(err, len, "op descriptor is NULL"), -1;
    if (!valid_name(d->name))
        return snprintf(err, len, "op name '%s' must be 1-63 characters of a-z, 0-9 and _",
                        d->name ? d->name : "(null)"), -1;
    const char *n = d->name;
    if (gr_registry_find(reg, n)) {
        const struct gr_op_entry *e = gr_registry_entry(reg, n);
        return snprintf(err, len, "op '%s' is already registered (by %s)", n, e->origin), -1;
    }
    if (!d->infer) return snprintf(err, len, "op '%s': descriptor has no infer function", n), -1;
    if (!d->forward) return snprintf(err, len, "op '%s': descriptor has no forward function", n), -1;
    if (!d->summary || !*d->summary) return snprintf(err, len, "op '%s': descriptor has no summary", n), -1;
    if (d->max_inputs > 0 && (!d->inputs_doc || !*d->inputs_doc))
        return snprintf(err, len, "op '%s': descriptor has no inputs_doc (its inputs and their shapes)", n), -1;
    if ((d->flags & (GR_OP_INPUT | GR_OP_PARAM)) && !reg->allow_internal)
        return snprintf(err, len, "op '%s': input and parameter ops are reserved to graphrun", n), -1;
    if ((d->flags & GR_OP_FUSES_POOL) && !reg->allow_internal)
        return snprintf(err, len, "op '%s': GR_OP_FUSES_POOL is reserved to graphrun's own ops", n), -1;
    if ((d->flags & (GR_OP_ROWWISE | GR_OP_ROW_MEAN)) && !reg->allow_internal)
        return snprintf(err, len, "op '%s': GR_OP_ROWWISE and GR_OP_ROW_MEAN are reserved to graphrun's own ops", n),
               -1;
    if (d->flags & ~(unsigned)(GR_OP_INPUT | GR_OP_PARAM | GR_OP_VIEW | GR_OP_ASSIGNS_GRAD | GR_OP_FUSES_RELU | GR_OP_RELU |
                                GR_OP_MASKS_RELU | GR_OP_FUSES_POOL | GR_OP_ROWWISE | GR_OP_ROW_MEAN |
                                GR_OP_ASSIGNS_PARAM_GRAD))
        return snprintf(err, len, "op '%s': unknown flags 0x%x", n, d->flags), -1;
    if ((d->flags & GR_OP_VIEW) && d->min_inputs < 1)
        return snprintf(err, len, "op '%s': a view needs an input to view", n), -1;
    if (d->min_inputs < 0 || d->max_inputs < d->min_inputs)
        return snprintf(err, len, "op '%s': inputs must satisfy 0 <= min_inputs <= max_inputs", n), -1;
    if (check_weights(d, err, len)) return -1;
    if (d->n_attrs < 0 || d->n_attrs > GR_MAX_ATTRS || (d->n_attrs && !d->attrs))
        return snprintf(err, len, "op '%s': n_attrs must be 0..%d with an attrs table", n, GR_MAX_ATTRS), -1;
    /* node keys the builder reads itself; `init` only where it names the
     * initializers of the op's own parameters */
    static const char *const reserved[] = {"name", "op", "inputs", "init"};
    int n_reserved = d->n_params > 0 ? 4 : 3;
    for (int i = 0; i < d->n_attrs; i++) {
        const struct gr_attr_spec *a = &d->attrs[i];
        if (!valid_name(a->name)) return snprintf(err, len, "op '%s': attribute %d has an invalid name", n, i), -1;
        for (int r = 0; r < n_reserved; r++)
            if (strcmp(a->name, reserved[r]) == 0)
                return snprintf(err, len, "op '%s': attribute name '%s' is reserved", n, a->name), -1;
        for (int j = 0; j < i; j++)
            if (strcmp(a->name, d->attrs[j].name) == 0)
                return snprintf(err, len, "op '%s': attribute '%s' declared twice", n, a->name), -1;
        if (!a->doc || !*a->doc) return snprintf(err, len, "op '%s': attribute '%s' has no doc", n, a->name), -1;
        if ((unsigned)a->type > GR_ATTR_INTS)
            return snprintf(err, len, "op '%s': attribute '%s' has an unknown type", n, a->name), -1;
        if (a->def) {
            struct gr_attr_value v;
            char what[128];
            snprintf(what, sizeof what, "op '%s': default of '%s'", n, a->name);
            if (gr_attr_default(reg->ctx, a, what, &v))
                return snprintf(err, len, "%s", reg->ctx->err), -1;
        }
    }
    return 0;
}

/* The registry's own copy of a descriptor, of today's size: the first
 * reg->desc_size bytes of `desc` (what the registering code's header
 * declared), the rest zero. */
static struct gr_op_desc *copy_desc(struct gr_registry *reg, const struct gr_op_desc *desc) {
    struct gr_op_desc *copy = gr_calloc(reg->ctx, 1, sizeof *copy);
    if (copy) memcpy(copy, desc, reg->desc_size < sizeof *copy ? reg->desc_size : sizeof *copy);
    return copy;
}

int gr_registry_add_op(struct gr_registry *reg, const struct gr_op_desc *desc, char *err, size_t err_len) {
    if (!desc) return snprintf(err, err_len, "op descriptor is NULL"), -1;
    struct gr_op_desc *copy = copy_desc(reg, desc);
    if (!copy) return snprintf(err, err_len, "out of memory"), -1;
    if (check_desc(reg, copy, err, err_len)) {
        gr_free(reg->ctx, copy);
        return -1;
    }
    if (reg->n == reg->cap) {
        int cap = reg->cap ? 2 * reg->cap : 32;
        struct gr_op_entry *ops = gr_alloc(reg->ctx, (size_t)cap * sizeof *ops);
        if (!ops) {
            gr_free(reg->ctx, copy);
            return snprintf(err, err_len, "out of memory"), -1;
        }
        if (reg->ops) memcpy(ops, reg->ops, (size_t)reg->n * sizeof *ops);
        gr_free(reg->ctx, reg->ops);
        reg->ops = ops;
        reg->cap = cap;
    }
    reg->ops[reg->n].desc = copy;
    reg->ops[reg->n].origin = reg->origin;
    reg->n++;
    return 0;
}

/* ---- optimizers ---------------------------------------------------------------- */

const struct gr_optim_desc *gr_registry_optimizer(const struct gr_registry *reg, const char *name) {
    for (int i = 0; i < reg->n_optims; i++)
        if (strcmp(reg->optims[i]->name, name) == 0) return reg->optims[i];
    return NULL;
}

const char *gr_registry_suggest_optimizer(const struct gr_registry *reg, const char *name) {
    struct gr_suggest sg;
    gr_suggest_init(&sg, name);
    for (int i = 0; i < reg->n_optims; i++) gr_suggest_offer(&sg, reg->optims[i]->name);
    return gr_suggest_best(&sg);
}

static int check_optim_key(const struct gr_optim_desc *d, int i, char *err, size_t len) {
    const struct gr_optim_key *k = &d->keys[i];
    const char *n = d->name;
    if (!valid_name(k->name) || !strcmp(k->name, "name") || !strcmp(k->name, "lr") ||
        !strcmp(k->name, "weight_decay_exclude"))
        return snprintf(err, len, "optimizer '%s': key %d has an invalid or reserved name", n, i), -1;
    for (int j = 0; j < i; j++)
        if (strcmp(k->name, d->keys[j].name) == 0)
            return snprintf(err, len, "optimizer '%s': key '%s' declared twice", n, k->name), -1;
    if (!k->doc || !*k->doc) return snprintf(err, len, "optimizer '%s': key '%s' has no doc", n, k->name), -1;
    if (k->type == GR_OPTIM_BOOL) {
        if (k->def != 0.0 && k->def != 1.0)
            return snprintf(err, len, "optimizer '%s': key '%s': a boolean defaults to 0 or 1", n, k->name), -1;
        return 0;
    }
    if (k->type != GR_OPTIM_FLOAT || !(k->min <= k->max) || !isfinite(k->min) || !isfinite(k->max))
        return snprintf(err, len, "optimizer '%s': key '%s' needs a type and a finite range", n, k->name), -1;
    if (k->def < k->min || k->def > k->max || (k->above_min && k->def <= k->min))
        return snprintf(err, len, "optimizer '%s': key '%s': the default lies outside its range", n, k->name), -1;
    return 0;
}

/* What the runtime relies on, checked once, as for ops. */
static int check_optim(const struct gr_registry *reg, const struct gr_optim_desc *d, char *err, size_t len) {
    if (!d || !valid_name(d->name))
        return snprintf(err, len, "optimizer name '%s' must be 1-63 characters of a-z, 0-9 and _",
                        d && d->name ? d->name : "(null)"), -1;
    const char *n = d->name;
    if (gr_registry_optimizer(reg, n)) return snprintf(err, len, "optimizer '%s' is already registered", n), -1;
    if (!d->update) return snprintf(err, len, "optimizer '%s': descriptor has no update function", n), -1;
    if (!d->summary || !*d->summary || !d->title || !*d->title)
        return snprintf(err, len, "optimizer '%s': descriptor needs a title and a summary", n), -1;
    if (d->n_keys < 0 || d->n_keys > GR_OPTIM_MAX_KEYS || (d->n_keys && !d->keys))
        return snprintf(err, len, "optimizer '%s': n_keys must be 0..%d with a keys table", n, GR_OPTIM_MAX_KEYS), -1;
    for (int i = 0; i < d->n_keys; i++)
        if (check_optim_key(d, i, err, len)) return -1;
    if (d->n_state < 0 || d->n_state > GR_OPTIM_MAX_STATE || (d->n_state && !d->state))
        return snprintf(err, len, "optimizer '%s': n_state must be 0..%d with a state table", n,
                        GR_OPTIM_MAX_STATE), -1;
    for (int i = 0; i < d->n_state; i++) {
        if (!valid_name(d->state[i].name))
            return snprintf(err, len, "optimizer '%s': state %d has an invalid name", n, i), -1;
        for (int j = 0; j < i; j++)
            if (strcmp(d->state[i].name, d->state[j].name) == 0)
                return snprintf(err, len, "optimizer '%s': state '%s' declared twice", n, d->state[i].name), -1;
        const char *with = d->state[i].only_with, *from = d->state[i].init_from;
        if ((with && gr_optim_key_index(d, with) < 0) || (from && gr_optim_key_index(d, from) < 0))
            return snprintf(err, len, "optimizer '%s': state '%s' names a key it does not have", n, d->state[i].name),
                   -1;
    }
    return 0;
}

int gr_registry_add_optimizer(struct gr_registry *reg, const struct gr_optim_desc *desc, char *err, size_t len) {
    if (check_optim(reg, desc, err, len)) return -1;
    if (reg->n_optims == reg->cap_optims) {
        int cap = reg->cap_optims ? 2 * reg->cap_optims : 8;
        const struct gr_optim_desc **o = gr_alloc(reg->ctx, (size_t)cap * sizeof *o);
        if (!o) return snprintf(err, len, "out of memory"), -1;
        if (reg->optims) memcpy(o, reg->optims, (size_t)reg->n_optims * sizeof *o);
        gr_free(reg->ctx, reg->optims);
        reg->optims = o;
        reg->cap_optims = cap;
    }
    reg->optims[reg->n_optims++] = desc;
    return 0;
}
