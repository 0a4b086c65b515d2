/* Overrides of a config's YAML tree, from the command line. */
#ifndef GR_CONFIG_OVERRIDES_H
#define GR_CONFIG_OVERRIDES_H

#include "runtime/yaml/yaml.h"

struct gr_ctx;

/* The overrides' texts ("--set train.optimizer.lr=0.1"), newest first,
 * kept for messages as long as the config lives. */
struct gr_str_list {
    struct gr_str_list *next;
    char s[];
};

/* The prefix of a spec that removes PATH: "--unset PATH", as the command
 * line gave it, which messages then name (PATH=~ does the same, named as
 * a --set). */
#define GR_OVERRIDE_UNSET "--unset "

/* One PATH=VALUE into doc: VALUE is YAML; PATH walks mappings by key and the
 * graph (or any list) by node name or index; a missing mapping key is
 * created. A null VALUE (~ or null, which no key of a config takes) removes
 * the key or the list item instead (nothing, if the key is absent), as
 * GR_OVERRIDE_UNSET PATH does. The override's text is pushed onto
 * *origins; an error names it. */
int gr_override_apply(struct gr_ctx *ctx, struct gr_ydoc *doc, struct gr_str_list **origins, const char *spec);

#endif
