/* The training loop over an open session (runtime/session/session.h):
 * resume from a checkpoint, the run folder, the steps, periodic evaluation
 * (accuracy and loss on the first eval.samples test images) and what it
 * drives (the schedule, early stopping, the target: runtime/session/
 * watch.h), metrics rows, checkpoints (at the end, every
 * train.checkpoint.every steps, when ctx->interrupt is set, and
 * best.safetensors at each new best of early stopping), and the whole test
 * set at the end, for the last weights and early stopping's best. The
 * library prints nothing: it reports what happens through opts->report, and
 * the command draws it. */
#ifndef GR_SESSION_TRAIN_H
#define GR_SESSION_TRAIN_H

#include <stdint.h>

struct gr_session;
struct gr_train_result;

enum gr_train_event_kind {
    GR_TRAIN_START,     /* the run is sure to start: step `start` comes next */
    GR_TRAIN_STEP,      /* a step was taken (loss, epoch, rate) */
    GR_TRAIN_EVAL,      /* an evaluation step: loss and, with logits, accuracy */
    GR_TRAIN_TARGET,    /* the target was first reached (the session's watch says when) */
    GR_TRAIN_STOP,      /* early stopping ends the run at this step */
    GR_TRAIN_END,       /* the run ended without an error (result holds the figures) */
};

struct gr_train_event {
    enum gr_train_event_kind kind;
    const struct gr_session *session;
    const struct gr_train_result *result;
    const char *run_dir;      /* the run folder ("": none) */
    int64_t step, start;      /* this step; the first step of this run */
    double epoch, loss, accuracy;
    int has_accuracy;
    double eval_loss;         /* the evaluation's loss, with has_eval_loss */
    int has_eval_loss;
    int64_t nan_rows;         /* evaluated samples whose logits were not finite (no class, not a hit) */
    double lr;                /* this step's learning rate */
    double rate;              /* steps a second so far, evaluation left out */
};

struct gr_train_opts {
    int threads;         /* -1: as the config says (for models/open.c's gr_train) */
    const char *resume;  /* checkpoint to continue from, or NULL */
    const char *run_dir; /* folder for config.yaml, metrics.csv, metrics.jsonl
                            and (unless train.checkpoint.path says otherwise)
                            checkpoint.safetensors; NULL: none. A run locks
                            it (RUN/.lock) and refuses a folder in use. */
    int new_run_dir;     /* run_dir must be a new folder: if it exists,
                            run_dir-2, run_dir-3, ... (res->run_dir says) */
    void (*report)(void *ud, const struct gr_train_event *ev); /* NULL: silent */
    void *report_ud;
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
    int64_t test_nan_rows;          /* its samples whose logits were not finite (counted as misses) */
    int64_t stopped_early;          /* the step early stopping ended the run at; 0: it did not */
    int64_t best_step;              /* early stopping's best evaluation; 0: none */
    double best_metric;             /* what it measured */
    double best_test_accuracy;      /* those weights on the whole test set, at the end */
    char best_path[4200];           /* best.safetensors beside the checkpoint ("": none) */
    int target_stop;                /* the run ended at its target (train.target.stop) */
    double train_seconds;           /* the steps, without evaluation */
    double comm_seconds;            /* of which in the ranks' collectives (a job's gradient
                                       allreduce, waiting for the slowest rank included) */
    double eval_seconds;            /* periodic and final evaluation */
    double total_seconds;           /* everything after the session opened */
};

/* Train the open session s for its configured steps. A failed write
 * (metrics, checkpoint) stops training with the file and the reason in
 * ctx->err, the last checkpoint kept; so does a non-finite loss or gradient,
 * naming the step and the first node responsible. */
int gr_train_run(struct gr_session *s, const struct gr_train_opts *opts, struct gr_train_result *res);

#endif
