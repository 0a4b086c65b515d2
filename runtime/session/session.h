/* A session: one run's graph, data, plans and optimizer, put together from a
 * config. Opening one is two steps with the model between them, so that the
 * runtime never builds a graph itself (models/ does, above it):
 *
 *   gr_session_begin   the context's threads and seed; the data's headers
 *                      (files kept open) and the arrays the inputs name;
 *                      an empty graph
 *   (the caller)       builds s->g from the config (models/builder.c)
 *   gr_session_ready   names, every cross-check, then the data read,
 *                      parameters (filled by opts->fill), plans,
 *                      optimizer and sampler; nothing large is allocated
 *                      before everything that can be checked has been
 *
 * models/open.c's gr_session_open does the three. Each step of a training
 * session:
 *
 *   next batch of indices (shuffled, epoch after epoch), as rows of data.train
 *   -> input nodes filled from their arrays (augmented where configured)
 *   -> forward -> zero gradients -> backward, over the whole batch or, where
 *      the graph allows, leaf by leaf on every thread (runtime/session/leaves.h)
 *   -> the gradient's norm, clipping, the schedule's rate -> optimizer step
 *      (runtime/session/optimize.c) */
#ifndef GR_SESSION_H
#define GR_SESSION_H

#include "runtime/session/state.h"

struct gr_ctx;

int gr_session_begin(struct gr_ctx *ctx, struct gr_session *s, const struct gr_config *cfg,
                     const struct gr_session_opts *opts);
int gr_session_ready(struct gr_session *s);
void gr_session_close(struct gr_session *s);
/* One optimizer step on the next batch; returns the batch's loss (and
 * s->grad_norm, the gradient's global norm). If the loss or a parameter
 * gradient is not finite, the parameters are left as they were and
 * s->fault is set. */
float gr_session_step(struct gr_session *s);



#endif
