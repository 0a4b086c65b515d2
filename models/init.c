#include "models/init.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/core.h"
#include "runtime/base/ctx.h"
#include "runtime/base/rng.h"
#include "runtime/base/text.h"
#include "runtime/yaml/check.h"

static void fans(const struct gr_shape *s, double *fan_in, double *fan_out) {
    if (s->rank == 0) {
        *fan_in = *fan_out = 1;
        return;
    }
    if (s->rank == 1) {
        *fan_in = *fan_out = (double)s->dim[0];
        return;
    }
    double r = 1;
    for (int d = 0; d < s->rank - 2; d++) r *= (double)s->dim[d];
    *fan_in = (double)s->dim[s->rank - 2] * r;
    *fan_out = (double)s->dim[s->rank - 1] * r;
}

void gr_init_fill(enum gr_init init, const struct gr_shape *shape, float *dst, struct gr_rng *rng) {
    int64_t n = gr_shape_count(shape);
    double fi, fo;
    fans(shape, &fi, &fo);
    switch (init) {
    case GR_INIT_ZEROS:
        for (int64_t i = 0; i < n; i++) dst[i] = 0.0f;
        break;
    case GR_INIT_ONES:
        for (int64_t i = 0; i < n; i++) dst[i] = 1.0f;
        break;
    case GR_INIT_GLOROT_UNIFORM: {
        /* U(-a, a) with a = sqrt(6 / (fan_in + fan_out)): variance 2 / (fan_in + fan_out) */
        float a = (float)sqrt(6.0 / (fi + fo));
        for (int64_t i = 0; i < n; i++) dst[i] = (2.0f * gr_rng_uniform(rng) - 1.0f) * a;
        break;
    }
    case GR_INIT_GLOROT_NORMAL: {
        float sd = (float)sqrt(2.0 / (fi + fo));
        for (int64_t i = 0; i < n; i++) dst[i] = sd * gr_rng_normal(rng);
        break;
    }
    case GR_INIT_HE_NORMAL:
    case GR_INIT_LECUN_NORMAL: {
        float sd = (float)sqrt((init == GR_INIT_HE_NORMAL ? 2.0 : 1.0) / fi);
        for (int64_t i = 0; i < n; i++) dst[i] = sd * gr_rng_normal(rng);
        break;
    }
    case GR_INIT_HE_UNIFORM:
    case GR_INIT_LECUN_UNIFORM: {
        /* U(-a, a) has variance a^2 / 3: 2 / fan_in (He), 1 / fan_in (LeCun) */
        float a = (float)sqrt((init == GR_INIT_HE_UNIFORM ? 6.0 : 3.0) / fi);
        for (int64_t i = 0; i < n; i++) dst[i] = (2.0f * gr_rng_uniform(rng) - 1.0f) * a;
        break;
    }
    case GR_INIT_COUNT:
        break;
    }
}

/* Index of the op's parameter `name`, or -1. */
static int param_index(const struct gr_op_desc *op, const char *name) {
    for (int k = 0; k < op->n_params; k++)
        if (strcmp(op->params[k].name, name) == 0) return k;
    return -1;
}

static int unknown_param(struct gr_ctx *ctx, const char *file, const struct gr_ynode *key, const char *node,
                         const struct gr_op_desc *op) {
    for (int k = 0; k < op->n_state; k++)
        if (strcmp(op->state[k].name, key->str) == 0)
            return gr_fail_node(ctx, file, key,
                                "node '%s': init: '%s' is state of op '%s', not a trained parameter; it starts at "
                                "the op's own values",
                                node, key->str, op->name);
    struct gr_suggest sg;
    gr_suggest_init(&sg, key->str);
    char list[256] = "";
    size_t used = 0;
    for (int k = 0; k < op->n_params; k++) {
        gr_suggest_offer(&sg, op->params[k].name);
        if (used < sizeof list)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", op->params[k].name);
    }
    const char *near = gr_suggest_best(&sg);
    if (near)
        return gr_fail_node(ctx, file, key, "node '%s': init: op '%s' has no parameter '%s' (did you mean '%s'?)",
                            node, op->name, key->str, near);
    return gr_fail_node(ctx, file, key, "node '%s': init: op '%s' has no parameter '%s' (its parameters: %s)", node,
                        op->name, key->str, list);
}

int gr_init_read_key(struct gr_ctx *ctx, const char *file, const struct gr_ynode *v, const char *node,
                     const struct gr_op_desc *op, int *init) {
    char what[GR_ERRBUF];
    for (int k = 0; k < GR_MAX_PARAMS; k++) init[k] = -1;
    if (!v) return 0;
    snprintf(what, sizeof what, "node '%s': init", node);
    if (v->kind != GR_Y_MAP)
        return gr_fail_node(ctx, file, v, "%s: expected a mapping from parameter to initializer, e.g. {%s: %s}, got %s",
                            what, op->params[0].name, gr_init_names[GR_INIT_HE_NORMAL],
                            v->kind == GR_Y_SEQ ? "a list" : "a scalar");
    for (int i = 0; i < v->n; i++) {
        const struct gr_ynode *key = gr_ymap_key(v, i);
        int k = param_index(op, key->str);
        if (k < 0) return unknown_param(ctx, file, key, node, op);
        snprintf(what, sizeof what, "node '%s': init.%s", node, key->str);
        if (gr_read_choice(ctx, file, gr_ymap_val(v, i), gr_init_names, what, &init[k])) return -1;
    }
    return 0;
}
