/* A session's datasets (runtime/data/dataset.h) as its config describes them
 * (runtime/config/datasets.h) and its graph reads them: opened (headers
 * only, the files kept open), every input node's array checked in every set
 * the node is fed from, the validation set held out and the evaluation set
 * chosen, then the arrays read through the descriptors their headers were
 * checked with, and every integer array checked against the index ranges
 * the graph's ops declare. Each step records one located message and
 * returns -1. runtime/session/session.c calls them in this order. */
#ifndef GR_SESSION_DATASETS_H
#define GR_SESSION_DATASETS_H

#include <stdint.h>

struct gr_ctx;
struct gr_dataset;
struct gr_node;
struct gr_plan;
struct gr_session;
struct gr_split;
struct gr_split_cfg;

/* Open every file of the dataset sc of config `config` into d: headers
 * checked, files kept open; a failure located at the file's key. */
int gr_dataset_open_cfg(struct gr_ctx *ctx, const char *config, struct gr_dataset *d, const struct gr_split_cfg *sc);
/* The message in ctx->err (from gr_dataset_read of such a dataset, which
 * failed on file `bad`), located at that file's key. */
int gr_dataset_read_cfg_fail(struct gr_ctx *ctx, const char *config, const struct gr_split_cfg *sc, int bad);

/* Open the datasets the session's mode reads and lay out its sets: the
 * training samples, a validation set (held out of data.train, or its own),
 * the test set, and the one periodic evaluation reads (eval.on). */
int gr_session_open_data(struct gr_session *s);
/* The `data` of every node declared `op: input` in the config's graph
 * names an array some open dataset has: checked on the YAML before the
 * graph is built, since an input's dtype follows the name it gives. */
int gr_session_check_names(struct gr_session *s);
/* Every input node against its array in every set that feeds it (present,
 * a type the node reads, as many values a sample as the node holds); the
 * evaluation's labels; the augmented images (batch and eval.samples
 * against the sets' sizes: checks.h). */
int gr_session_check_data(struct gr_session *s);
/* Whether every input node plan p runs can be fed from every evaluation
 * set (validation, test); if so those arrays are marked to be read. */
int gr_session_eval_feeds(struct gr_session *s, const struct gr_plan *p);
/* The bytes the sets will hold once read. */
double gr_session_data_bytes(const struct gr_session *s);
/* Read the arrays the graph uses (in check mode: read to be checked, only
 * the integer ones kept) and hold the validation set out. */
int gr_session_read_data(struct gr_session *s);
/* Every index an op will read (labels as class indices, token ids) inside
 * its range, in every set. */
int gr_session_check_indices(struct gr_session *s);

/* The index in sp's dataset of the array input node nd reads (checked). */
int gr_split_array(const struct gr_split *sp, const struct gr_node *nd);

#endif
