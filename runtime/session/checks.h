/* The checks a session makes between the graph and the config, before
 * anything large is allocated (runtime/session/session.c calls them in
 * order; those against the data are in datasets.h). Each records one
 * located message and returns -1. */
#ifndef GR_SESSION_CHECKS_H
#define GR_SESSION_CHECKS_H

#include <stdint.h>

struct gr_session;
struct gr_plan;
struct gr_split;
struct gr_ynode;

/* A non-parameter node named at a config key (train.loss, eval.logits). */
int gr_session_find_node(struct gr_session *s, const char *name, const struct gr_ynode *at, const char *what);
/* The message in ctx->err, put at a config key as "what: message". */
int gr_session_fail_at_key(struct gr_session *s, const struct gr_ynode *at, const char *what);
/* The plans laid out (shapes and sizes; nothing held): the training plan
 * for `part` rows (this rank's of each batch), or a leaf's when the step
 * runs by leaves (runtime/session/leaves.h, which sets s->leaves). */
int gr_session_lay_out_plans(struct gr_session *s, int64_t part);
/* eval.logits: float32 [batch, classes] whose first axis is the batch. */
int gr_session_check_logits(struct gr_session *s);
/* The memory the run will hold, from shapes and headers, against the machine's. */
int gr_session_check_memory(struct gr_session *s);
/* train.batch_size and eval.samples within the sets they draw from. */
int gr_session_check_sizes(struct gr_session *s);
/* What was read fits plan p's inputs exactly. */
int gr_session_verify_feed(struct gr_session *s, const struct gr_plan *p, const struct gr_split *sp);

#endif
