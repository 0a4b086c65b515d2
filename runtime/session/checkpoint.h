/* Checkpoints: everything a run needs to continue exactly where it stopped,
 * in the safetensors format, so other tools can read the weights:
 *
 *   u64 little-endian N | N bytes of JSON | data
 *
 * The JSON maps tensor names to {"dtype", "shape", "data_offsets"} (offsets
 * into the data, which follows the header) and holds "__metadata__", a map of
 * strings. graphrun writes
 *
 *   param/<node>            F32   every parameter, by node name
 *   optim/<state>/<node>    F32   each state the optimizer holds, by the name
 *                                 its descriptor gives it (Adam's m and v,
 *                                 AMSGrad's vmax, SGD's m, RMSprop's
 *                                 square_avg, ...)
 *   best/<node>             F32   with early stopping: the parameters at its
 *                                 best evaluation
 *   rng                     U64   [4] the generator's state
 *   data/order              I32   [n] this epoch's order of training samples
 *
 * and metadata: format ("graphrun-checkpoint-2"), step, optimizer, optim_t,
 * data_pos, data_epoch, log_sum, norm_sum and log_n (the losses and
 * gradient norms since the last metrics row and their count),
 * train_seconds and wall_seconds (the run's time so far), schedule and
 * schedule_state, early_stopping (best, its step, bad evaluations since,
 * the step it stopped at) and target (the step, epoch, times and measure
 * it was reached at) when the run has them, config (the YAML text the run
 * was started from) and crc32 (8 hex digits): the CRC-32 of the whole file,
 * length, header and data, with crc32's own 8 digits read as '0'. Format 1 (older
 * graphruns) checksummed the data alone, so its header cannot be verified:
 * it is refused with a message saying so.
 *
 * Saving writes a temporary file beside <path> (gr_open_output, which also
 * follows a link to the file it leads to), fsyncs it, renames it over
 * <path> and fsyncs the folder: a kill at any moment leaves either the old
 * checkpoint or the new one whole. Loading checks the header's structure,
 * every offset and the checksum, then that the tensors match this graph
 * and that their values can be used (weights and states finite, a state
 * declared never negative, such as Adam's second moment, not negative),
 * before anything is changed.
 * best.safetensors, which a run with early stopping writes beside its
 * checkpoint at each new best, is a checkpoint like any other. */
#ifndef GR_CHECKPOINT_H
#define GR_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

struct gr_ctx;
struct gr_session;

int gr_checkpoint_save(struct gr_session *s, int64_t step, const char *path);
/* Restore the session from `path`; *step is the step the checkpoint was taken
 * after. A training session takes the whole run state, which must match this
 * run (optimizer, training set); an eval or predict session takes only the
 * parameters, which must match this graph by name and shape. On any error the
 * session is unchanged. */
int gr_checkpoint_load(struct gr_session *s, const char *path, int64_t *step);

/* Parse and verify a checkpoint held in memory (used by load and by the
 * fuzzer); on success *step is its step. Flags: */
enum {
    GR_CKPT_APPLY = 1,    /* copy the state into the session */
    GR_CKPT_NO_CRC = 2,   /* skip the checksum (fuzzing: reach the checks behind it) */
};
int gr_checkpoint_parse(struct gr_session *s, const char *name, const uint8_t *buf, size_t len, unsigned flags,
                        int64_t *step);

#endif
