/* The config front-end: one YAML file with four sections.
 *
 *   plugins: shared libraries with more ops (optional)
 *   data:   the datasets: files of named arrays (runtime/config/datasets.h)
 *   blocks: named sub-graphs the graph uses (optional; models/expand.h)
 *   graph:  the nodes (see models/builder.h)
 *   train:  loss node, optimizer, batch size, steps or epochs, seed, threads
 *   eval:   the logits node and the labels' array, how often, on which set
 *           (validation or test) and on how many of its samples
 *
 * Every key is checked: unknown keys, wrong types and out-of-range values are
 * errors with FILE:LINE:COL, never warnings or silent defaults. The graph
 * section is only checked for shape here, and blocks not at all;
 * models/expand.c and models/builder.c check them. */
#ifndef GR_CONFIG_H
#define GR_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/config/datasets.h"
#include "runtime/config/overrides.h"
#include "runtime/optim/optimizer.h"
#include "runtime/yaml/yaml.h"

struct gr_ctx;

struct gr_config {
    char *path;
    struct gr_str_list *origins; /* the --set texts, for messages */
    int n_plugins;
    char **plugins; /* paths resolved against the config's folder, or bare names */
    const struct gr_ynode **plugins_at;
    char *text; /* the effective config: the file, or with --set the tree as
                   YAML; kept in checkpoints */
    char *run_text; /* the same tree as YAML with every path made absolute:
                       the copy a run folder keeps, valid from anywhere */
    struct gr_ydoc doc;
    const struct gr_ynode *graph;

    struct gr_data_cfg data;

    const char *loss;
    const struct gr_ynode *loss_at;
    struct gr_optim_cfg optim;
    int64_t batch_size;
    const struct gr_ynode *batch_size_at;
    int64_t steps;  /* 0 when given as epochs */
    int64_t epochs; /* 0 when given as steps */
    uint64_t seed;
    int threads;    /* 0: one per usable CPU (gr_cpu_count) */
    char *checkpoint;       /* its path resolved; NULL: the run folder's */
    int64_t log_every;      /* steps between metrics rows */
    int64_t checkpoint_every; /* 0: only at the end and on interruption */
    const struct gr_ynode *checkpoint_at;

    int has_eval;
    const char *logits; /* [batch, classes]; its argmax is the prediction */
    const char *eval_labels; /* the array of the classes: "labels" unless eval.labels says */
    const struct gr_ynode *logits_at, *eval_samples_at, *eval_labels_at, *eval_on_at;
    int eval_on_validation; /* eval.on: periodic evaluation reads the validation
                               set (the default when there is one), else the test set */
    int64_t eval_every, eval_samples, eval_batch;
};

int gr_config_load(struct gr_ctx *ctx, struct gr_config *cfg, const char *path);
/* The same with overrides "PATH=VALUE" (train.optimizer.lr=0.001,
 * graph.lstm.num_units=128) applied to the YAML before it is checked; an
 * error in or caused by one names it: "--set train.optimizer.lr=-1: ...". */
int gr_config_load_ex(struct gr_ctx *ctx, struct gr_config *cfg, const char *path, const char *const *sets,
                      int n_sets);
int gr_config_parse_ex(struct gr_ctx *ctx, struct gr_config *cfg, const char *name, const char *dir, const char *text,
                       size_t len, const char *const *sets, int n_sets);
/* Load the plugins the config names (bare names through the context's plugin
 * path); an error points at the entry. */
int gr_config_load_plugins(struct gr_ctx *ctx, const struct gr_config *cfg);
/* Same, from text (tests); `name` is used in messages and `dir` for paths. */
int gr_config_parse(struct gr_ctx *ctx, struct gr_config *cfg, const char *name, const char *dir, const char *text,
                    size_t len);
void gr_config_free(struct gr_ctx *ctx, struct gr_config *cfg);

#endif
