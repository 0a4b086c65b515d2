/* What train.c (the train section) and schedule.c (train.schedule, and the
 * check of keys that belong to another optimizer or schedule) share, and
 * nothing else uses. config.c, which reads the file and the other sections,
 * keeps its own copies of the two helpers (the header includes config.h,
 * so config.c including it would make an include loop). */
#ifndef GR_CONFIG_SECTIONS_H
#define GR_CONFIG_SECTIONS_H

#include <stdio.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/config/config.h"
#include "runtime/yaml/check.h"

/* A required child of a mapping, or an error at the mapping. */
static inline const struct gr_ynode *gr_config_need(struct gr_ctx *ctx, struct gr_config *cfg,
                                                    const struct gr_ynode *map, const char *key, const char *where) {
    const struct gr_ynode *v = gr_ymap_get(map, key);
    if (!v) gr_fail_missing(ctx, cfg->doc.file, map, key, "%s: missing '%s'", where, key);
    return v;
}

/* Join a relative path onto the config's folder. */
static inline char *gr_config_resolve(struct gr_ctx *ctx, const char *dir, const char *p) {
    if (p[0] == '/' || !dir || !dir[0]) return gr_strdup(ctx, p);
    size_t n = strlen(dir) + strlen(p) + 2;
    char *out = gr_alloc(ctx, n);
    if (out) snprintf(out, n, "%s/%s", dir, p);
    return out;
}

/* train.schedule (schedule.c). */
int gr_config_read_schedule(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_ynode *node);

/* Every key of `map` (train.optimizer, or with in_schedule train.schedule)
 * in `allowed` (NULL-terminated), else an error at the first other: for a
 * key of other optimizers or schedules, which ones take it ("a key of sgd
 * and rmsprop"), else gr_check_keys's. `what` names the mapping
 * ("train.optimizer (adam)"). */
int gr_config_check_owned_keys(struct gr_ctx *ctx, struct gr_config *cfg, const struct gr_ynode *map,
                               const char *const *allowed, const char *what, int in_schedule);

#endif
