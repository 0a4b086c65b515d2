/* The layout of a checkpoint (runtime/session/checkpoint.h says what it
 * holds), for its writer and its reader. */
#ifndef GR_SESSION_CHECKPOINT_FORMAT_H
#define GR_SESSION_CHECKPOINT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "graphrun/plugin.h"

struct gr_session;
struct gr_ctx;
struct json_t;

/* Format 2's crc32 covers the whole file; format 1's covered only the data. */
#define GR_CKPT_FORMAT "graphrun-checkpoint-2"
#define GR_CKPT_FORMAT_1 "graphrun-checkpoint-1"
#define GR_CKPT_MAX_HEADER ((uint64_t)64 << 20)

/* One tensor of a checkpoint, pointing at where its values live in the session. */
struct gr_ckpt_entry {
    char name[160];
    const char *dtype;
    int rank;
    int64_t dim[GR_MAX_DIMS];
    void *data;
    const char *never_negative; /* an optimizer state's "Adam's second moment", or NULL */
    char owner[96];
    size_t bytes;
};

/* Whether the session holds a training run's state (optimizer, sampler), or
 * only parameters (eval, predict). */
int gr_ckpt_holds_run_state(const struct gr_session *s);
/* The session's state as a list of tensors: param/<node>, then in a
 * training session optim/<state>/<node> for each state its optimizer keeps,
 * rng and data/order (last). *out from the context's allocator. */
int gr_ckpt_collect(struct gr_session *s, struct gr_ckpt_entry **out, int *n_out);
const char *gr_ckpt_optim_name(const struct gr_session *s);

/* What a training run keeps in the metadata besides its position
 * (checkpoint_run.c): the gradient norms since the last metrics row, the
 * time trained so far, the schedule's state, early stopping's and the
 * target's. A has_ flag is 0 when the checkpoint does not hold that part
 * (it was written by a run without it): the run starts it afresh. */
struct gr_ckpt_run {
    double norm_sum, train_seconds, wall_seconds;
    int has_sched, has_stop, has_target;
    double sched[4];  /* the schedule's state */
    double stop[4];   /* best, best_step, bad, stopped */
    double target[5]; /* step, epoch, training seconds, wall seconds, measured */
};
void gr_ckpt_put_run(struct json_t *meta, const struct gr_session *s);
/* Read and check them from `meta` of a checkpoint of step `step`. */
int gr_ckpt_get_run(struct gr_ctx *ctx, const char *name, struct json_t *meta, const struct gr_session *s,
                    int64_t step, struct gr_ckpt_run *out);
void gr_ckpt_apply_run(struct gr_session *s, const struct gr_ckpt_run *r);

/* Where the 8 crc32 digits `digits` sit in the header, or -1 unless once. */
long gr_ckpt_crc_position(const uint8_t *header, size_t len, const char *digits);
/* CRC-32 of the 8 + hl bytes of length and header, with the crc32 digits at
 * header offset `at` read as '0' (the data's CRC continues from it). */
unsigned long gr_ckpt_header_crc(const uint8_t *len_and_header, size_t hl, size_t at);

#endif
