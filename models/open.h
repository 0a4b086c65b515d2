/* A config made into a running session: the plugins it names, its graph
 * (models/builder.c), then the runtime's checks, data, parameters (drawn by
 * models/init.c's initializers) and plans. The runtime never builds a graph
 * itself; this is the one place the model DSL and the runtime meet. */
#ifndef GR_MODELS_OPEN_H
#define GR_MODELS_OPEN_H

#include "runtime/session/session.h"
#include "runtime/session/train.h"

/* Everything up to the first step. On failure the session is still safe to
 * close. */
int gr_session_open(struct gr_ctx *ctx, struct gr_session *s, const struct gr_config *cfg,
                    const struct gr_session_opts *opts);

/* Open a training session with opts->threads, train it (gr_train_run) and
 * close it. */
int gr_train(struct gr_ctx *ctx, const struct gr_config *cfg, const struct gr_train_opts *opts,
             struct gr_train_result *res);

#endif
