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
 *   optim/m/<node>          F32   Adam's first moment, or SGD's velocity
 *   optim/v/<node>          F32   Adam's second moment
 *   rng                     U64   [4] the generator's state
 *   data/order              I32   [n] this epoch's order of training samples
 *
 * and metadata: format ("graphrun-checkpoint-2"), step, optimizer, optim_t,
 * data_pos, data_epoch, log_sum and log_n (the losses since the last
 * metrics row and their count), config (the YAML text the run was started
 * from) and crc32 (8 hex digits): the CRC-32 of the whole file, length,
 * header and data, with crc32's own 8 digits read as '0'. Format 1 (older
 * graphruns) checksummed the data alone, so its header cannot be verified:
 * it is refused with a message saying so.
 *
 * Saving writes "<path>.tmp", fsyncs it, renames it over <path> and fsyncs
 * the folder: a kill at any moment leaves either the old checkpoint or the
 * new one whole. Loading checks the header's structure, every offset and the
 * checksum, then that the tensors match this graph and that their values
 * can be used (weights and moments finite, Adam's second moment not
 * negative), before anything is changed. */
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
