/* Evaluation through a session's evaluation plan: forward only, in batches
 * of its capacity, on the training parameters. Every caller - the periodic
 * accuracy and loss of a training run, its final accuracy, `graphrun eval` and
 * `graphrun predict` - takes the same path: a sample's class is the argmax of
 * its logits (the first of equal values), its probabilities the softmax of
 * the logits, computed in double. */
#ifndef GR_SESSION_EVALUATE_H
#define GR_SESSION_EVALUATE_H

#include <stdint.h>

#include "graphrun/plugin.h"

struct gr_session;

/* What a periodic evaluation measures: the accuracy, and the mean loss when
 * the evaluation plan runs the loss node too (the loss of each batch
 * weighted by its size: exact for a loss that is a mean over samples). */
struct gr_measure {
    double accuracy, loss;
    int has_loss;
    int64_t nan_rows; /* samples whose logits are not all finite: no class, so never a hit */
};

/* The index of the largest of row[0..n), the first of equal ones; -1 (no
 * class) when any is not finite: NaN compares with nothing, and infinities
 * (an overflow) tie or hide the order of the rest. */
int64_t gr_argmax(const float *row, int64_t n);

struct gr_split;

/* Accuracy on the first n samples of set sp (s->test_set, s->valid_set,
 * s->eval_set). Allocates nothing. */
double gr_session_accuracy(struct gr_session *s, const struct gr_split *sp, int64_t n);
/* Accuracy and loss on the first n samples of set sp. Allocates nothing. */
void gr_session_measure(struct gr_session *s, const struct gr_split *sp, int64_t n, struct gr_measure *m);
/* The class of sample i of set sp: its label (eval.labels), or the argmax
 * of its row of class scores. */
int32_t gr_session_label(const struct gr_session *s, const struct gr_split *sp, int64_t i);

/* The first n test samples: classes[i], and with probs the probabilities
 * probs[i * C + j] (C classes); *correct counts the classes equal to the
 * labels. classes, probs and correct may each be NULL. */
int gr_session_classify(struct gr_session *s, int64_t n, int32_t *classes, float *probs, int64_t *correct);

/* The shape of one image the graph reads (the shape of its inputs of
 * `data: images` without the batch axis). */
struct gr_shape gr_session_image_shape(const struct gr_session *s);

/* The same for n images given as bytes, n x (values of
 * gr_session_image_shape), mapped like the data (data.pixel_range). */
int gr_session_predict(struct gr_session *s, const uint8_t *pixels, int64_t n, int32_t *classes, float *probs);

#endif
