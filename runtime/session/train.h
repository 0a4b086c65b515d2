/* The training loop: data, graph, plans and optimizer put together from a
 * config. Each step:
 *
 *   next batch of indices (shuffled, epoch after epoch)
 *   -> input nodes filled from the dataset bytes
 *   -> forward -> zero gradients -> backward -> optimizer step
 *
 * Every eval.every steps the evaluation plan (forward only, its own batch
 * size, sharing the parameters) measures accuracy on the first eval.samples
 * test images; at the end, on the whole test set. */
#ifndef GR_TRAIN_H
#define GR_TRAIN_H

#include <stdint.h>
#include <stdio.h>

#include "runtime/config/config.h"
#include "runtime/data/data.h"
#include "runtime/engine/graph.h"
#include "runtime/engine/optim.h"
#include "runtime/engine/plan.h"

struct gr_ctx;

/* What a session is opened for; each reads and holds only what it needs. */
enum gr_session_mode {
    GR_SESSION_TRAIN,   /* both splits, parameters, both plans, optimizer, sampler */
    GR_SESSION_CHECK,   /* every check a training run makes, reading only the
                           data's headers and labels and allocating nothing
                           large: parameters and plans laid out, not held */
    GR_SESSION_EVAL,    /* the test split, parameters, the evaluation plan */
    GR_SESSION_PREDICT, /* parameters and the evaluation plan; no data */
};

struct gr_train_opts {
    int threads;         /* -1: as the config says */
    FILE *out;           /* progress and results; NULL: silent */
    const char *resume;  /* checkpoint to continue from, or NULL */
    const char *run_dir; /* folder for config.yaml, metrics.csv, metrics.jsonl
                            and (unless train.checkpoint.path says otherwise)
                            checkpoint.safetensors; NULL: none. A run locks
                            it (RUN/.lock) and refuses a folder in use. */
    int new_run_dir;     /* run_dir must be a new folder: if it exists,
                            run_dir-2, run_dir-3, ... (res->run_dir says) */
    int progress;        /* redraw one progress line in place (a terminal) */
    int quiet;           /* print only the result */
    int show_config;     /* print the effective config once the run is
                            known to start (not with quiet) */
    enum gr_session_mode mode; /* for gr_session_open; gr_train trains */
};

struct gr_train_result {
    int64_t steps;                  /* the last step taken */
    int interrupted;                /* stopped by ctx->interrupt */
    int64_t checkpoint_step;        /* step of the last checkpoint written, -1: none */
    char checkpoint_path[4200];     /* where checkpoints went ("": nowhere) */
    char run_dir[4160];             /* the run folder used ("": none) */
    double first_loss, last_loss;   /* minibatch losses */
    double last_eval_accuracy;      /* on eval.samples images, at the last eval */
    double test_accuracy;           /* on the whole test set, at the end */
    double train_seconds;           /* the steps, without evaluation */
    double eval_seconds;            /* periodic and final evaluation */
    double total_seconds;           /* everything, loading included */
};

/* A set-up run; gr_session_open does everything up to the first step. */
struct gr_session {
    struct gr_ctx *ctx;
    const struct gr_config *cfg;
    enum gr_session_mode mode;
    struct gr_dataset train, test;
    struct gr_graph g;
    struct gr_plan tp, ep; /* training, evaluation */
    struct gr_optim opt;
    struct gr_sampler sampler;
    int32_t *idx;          /* batch indices */
    int loss, logits;
    int fault;             /* the last step's loss or gradient was not finite */
    double log_sum;        /* the losses since the last metrics row, and */
    int64_t log_n;         /* their count: kept in checkpoints, so that a
                              resumed run's rows equal an unbroken run's */
    int64_t steps, eval_samples;
    FILE *out;
};

int gr_session_open(struct gr_ctx *ctx, struct gr_session *s, const struct gr_config *cfg,
                    const struct gr_train_opts *opts);
void gr_session_close(struct gr_session *s);
/* One optimizer step on the next batch; returns the batch's loss. If the
 * loss or a parameter gradient is not finite, the parameters are left as
 * they were and s->fault is set. */
float gr_session_step(struct gr_session *s);
/* Accuracy of argmax(logits) on the first n test images. */
double gr_session_accuracy(struct gr_session *s, int64_t n);

/* The shape of one image the graph reads (its image inputs' shape without
 * the batch axis). */
struct gr_shape gr_session_image_shape(const struct gr_session *s);
/* Class probabilities (softmax of the logits) of n images given as bytes,
 * n x (values of gr_session_image_shape), mapped like the data
 * (data.pixel_range); probs holds n x classes. Uses the evaluation plan, in
 * batches of its capacity. */
int gr_session_predict(struct gr_session *s, const uint8_t *pixels, int64_t n, float *probs);

/* Rewrite a run folder's metrics file `path` (in `dir`; CSV, or JSON lines
 * if json) to hold its header and its complete rows up to step `last`, as
 * a resumed run starts; atomically (a temporary file renamed over it). */
int gr_metrics_trim(struct gr_ctx *ctx, const char *path, int64_t last, int json);

/* Open, train for the configured steps with progress lines, evaluate. A
 * failed write (metrics, checkpoint) stops training with the file and the
 * reason in ctx->err, the last checkpoint kept. */
int gr_train(struct gr_ctx *ctx, const struct gr_config *cfg, const struct gr_train_opts *opts,
             struct gr_train_result *res);

#endif
