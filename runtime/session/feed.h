/* A plan's input nodes filled from a dataset's rows: the step's and the
 * evaluation's batches (runtime/session/session.c, leaves.c, evaluate.c). */
#ifndef GR_SESSION_FEED_H
#define GR_SESSION_FEED_H

#include <stdint.h>

#include "runtime/session/state.h"

/* Fill every input node plan p runs from rows[0..n) of set sp's dataset
 * (augmented as data.train.augment says when `augment`, sample r drawing
 * augmentation draw + r). */
void gr_session_feed(struct gr_session *s, struct gr_plan *p, const struct gr_split *sp, const int32_t *rows, int64_t n,
                     int augment, int64_t draw);

#endif
