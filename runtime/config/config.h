/* The config front-end: one YAML file with four sections.
 *
 *   plugins: shared libraries with more ops (optional)
 *   data:   the datasets: files of named arrays (runtime/config/datasets.h)
 *   blocks: named sub-graphs the graph uses (optional; models/expand.h)
 *   graph:  the nodes (see models/builder.h)
 *   train:  loss node, optimizer, schedule, batch size, steps or epochs, seed,
 *           threads, clipping, early stopping, target
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
#include "runtime/schedule/schedule.h"
#include "runtime/yaml/yaml.h"

struct gr_ctx;

#define GR_MAX_DECAY_EXCLUDE 32

/* What periodic evaluation measures, for the things it drives. */
enum gr_metric { GR_METRIC_LOSS, GR_METRIC_ACCURACY };

/* train.early_stopping: stop after `patience` evaluations in a row without
 * the metric improving by more than min_delta (maximize: accuracy's default
 * mode). */
struct gr_stop_cfg {
    int on;
    enum gr_metric metric;
    int maximize;
    int64_t patience;
    double min_delta;
    const struct gr_ynode *at, *metric_at;
};

/* train.target: the first evaluation whose metric reaches value (accuracy
 * at least, loss at most) is reported and written; with stop, the run ends
 * there. */
struct gr_target_cfg {
    int on;
    enum gr_metric metric;
    double value;
    int stop;
    const struct gr_ynode *at, *metric_at;
};

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
    const struct gr_ynode *optim_at;
    /* weight_decay_exclude: glob patterns of parameter names */
    int n_decay_exclude;
    const char *decay_exclude[GR_MAX_DECAY_EXCLUDE];
    const struct gr_ynode *decay_exclude_at[GR_MAX_DECAY_EXCLUDE];
    struct gr_sched_cfg sched;  /* constant when the config names none */
    const struct gr_ynode *sched_at, *sched_key_at[GR_SCHED_MAX_KEYS], *warmup_at;
    double clip_norm, clip_value; /* train.clip; 0: off */
    struct gr_stop_cfg early;
    struct gr_target_cfg target;
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

/* The train section (runtime/config/train.c), for gr_config_parse_ex. */
int gr_config_read_train(struct gr_ctx *ctx, struct gr_config *cfg, const char *dir, const struct gr_ynode *t);
/* What needs the periodic evaluation (early stopping, a target,
 * reduce_on_plateau) has one: checked once the eval section is read. */
int gr_config_check_watchers(struct gr_ctx *ctx, struct gr_config *cfg);

#endif
