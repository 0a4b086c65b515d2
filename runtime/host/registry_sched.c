/* The registry's schedules: checked as they enter, like optimizers
 * (runtime/host/registry.c), so the runner can trust them. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/base/text.h"
#include "runtime/host/registry.h"
#include "runtime/schedule/schedule.h"

static int sched_name_ok(const char *s) {
    if (!s || !*s || strlen(s) > 63) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
    return 1;
}

const struct gr_sched_desc *gr_registry_schedule(const struct gr_registry *reg, const char *name) {
    for (int i = 0; i < reg->n_scheds; i++)
        if (strcmp(reg->scheds[i]->name, name) == 0) return reg->scheds[i];
    return NULL;
}

const char *gr_registry_suggest_schedule(const struct gr_registry *reg, const char *name) {
    struct gr_suggest sg;
    gr_suggest_init(&sg, name);
    for (int i = 0; i < reg->n_scheds; i++) gr_suggest_offer(&sg, reg->scheds[i]->name);
    return gr_suggest_best(&sg);
}

/* A key: a free name (name, unit and warmup are every schedule's), a doc, a
 * finite range holding the default, choices for a choice. */
static int check_sched_key(const struct gr_sched_desc *d, int i, char *err, size_t len) {
    const struct gr_sched_key *k = &d->keys[i];
    const char *n = d->name;
    if (!sched_name_ok(k->name) || !strcmp(k->name, "name") || !strcmp(k->name, "unit") || !strcmp(k->name, "warmup"))
        return snprintf(err, len, "schedule '%s': key %d has an invalid or reserved name", n, i), -1;
    for (int j = 0; j < i; j++)
        if (strcmp(k->name, d->keys[j].name) == 0)
            return snprintf(err, len, "schedule '%s': key '%s' declared twice", n, k->name), -1;
    if (!k->doc || !*k->doc) return snprintf(err, len, "schedule '%s': key '%s' has no doc", n, k->name), -1;
    if (k->type < GR_SCHED_FLOAT || k->type > GR_SCHED_INT_LIST || !(k->min <= k->max) || !isfinite(k->min) ||
        !isfinite(k->max))
        return snprintf(err, len, "schedule '%s': key '%s' needs a type and a finite range", n, k->name), -1;
    int n_choices = 0;
    while (k->type == GR_SCHED_CHOICE && k->choices && k->choices[n_choices]) n_choices++;
    if (k->type == GR_SCHED_CHOICE && (n_choices == 0 || k->def < 0 || k->def >= n_choices))
        return snprintf(err, len, "schedule '%s': key '%s' needs choices holding its default", n, k->name), -1;
    if (k->type == GR_SCHED_BOOL && k->def != 0.0 && k->def != 1.0)
        return snprintf(err, len, "schedule '%s': key '%s': a boolean defaults to 0 or 1", n, k->name), -1;
    int ranged = k->type == GR_SCHED_FLOAT || k->type == GR_SCHED_INT;
    if (ranged && !k->required && !k->def_horizon &&
        (k->def < k->min || k->def > k->max || (k->above_min && k->def <= k->min)))
        return snprintf(err, len, "schedule '%s': key '%s': the default lies outside its range", n, k->name), -1;
    return 0;
}

static int check_sched(const struct gr_registry *reg, const struct gr_sched_desc *d, char *err, size_t len) {
    if (!d || !sched_name_ok(d->name))
        return snprintf(err, len, "schedule name '%s' must be 1-63 characters of a-z, 0-9 and _",
                        d && d->name ? d->name : "(null)"), -1;
    const char *n = d->name;
    if (gr_registry_schedule(reg, n)) return snprintf(err, len, "schedule '%s' is already registered", n), -1;
    if (!d->lr) return snprintf(err, len, "schedule '%s': descriptor has no lr function", n), -1;
    if (!d->summary || !*d->summary || !d->title || !*d->title)
        return snprintf(err, len, "schedule '%s': descriptor needs a title and a summary", n), -1;
    if (d->n_keys < 0 || d->n_keys > GR_SCHED_MAX_KEYS || (d->n_keys && !d->keys))
        return snprintf(err, len, "schedule '%s': n_keys must be 0..%d with a keys table", n, GR_SCHED_MAX_KEYS), -1;
    for (int i = 0; i < d->n_keys; i++)
        if (check_sched_key(d, i, err, len)) return -1;
    if (d->n_state < 0 || d->n_state > GR_SCHED_MAX_STATE || (d->n_state && !d->state_names))
        return snprintf(err, len, "schedule '%s': n_state must be 0..%d with its names", n, GR_SCHED_MAX_STATE), -1;
    for (int i = 0; i < d->n_state; i++)
        if (!sched_name_ok(d->state_names[i]))
            return snprintf(err, len, "schedule '%s': state %d has an invalid name", n, i), -1;
    if (d->observe && !d->needs)
        return snprintf(err, len, "schedule '%s': an observing schedule must say what it needs", n), -1;
    return 0;
}

int gr_registry_add_schedule(struct gr_registry *reg, const struct gr_sched_desc *desc, char *err, size_t len) {
    if (check_sched(reg, desc, err, len)) return -1;
    if (reg->n_scheds == reg->cap_scheds) {
        int cap = reg->cap_scheds ? 2 * reg->cap_scheds : 8;
        const struct gr_sched_desc **o = gr_alloc(reg->ctx, (size_t)cap * sizeof *o);
        if (!o) return snprintf(err, len, "out of memory"), -1;
        if (reg->scheds) memcpy(o, reg->scheds, (size_t)reg->n_scheds * sizeof *o);
        gr_free(reg->ctx, reg->scheds);
        reg->scheds = o;
        reg->cap_scheds = cap;
    }
    reg->scheds[reg->n_scheds++] = desc;
    return 0;
}
