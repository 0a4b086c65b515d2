/* What a session holds (runtime/session/session.h opens and runs one). Its
 * own header so that the files that only read a session - its checks,
 * checkpoints - need nothing of the code that opens it. */
#ifndef GR_SESSION_STATE_H
#define GR_SESSION_STATE_H

#include <stdint.h>

#include "runtime/config/config.h"
#include "runtime/data/augment.h"
#include "runtime/data/dataset.h"
#include "runtime/data/sampler.h"
#include "runtime/engine/graph.h"
#include "runtime/engine/optim.h"
#include "runtime/engine/plan.h"
#include "runtime/engine/schedule.h"

struct gr_ctx;
struct gr_dist;

/* What a session is opened for; each reads and holds only what it needs. */
enum gr_session_mode {
    GR_SESSION_TRAIN,   /* every dataset, parameters, both plans, optimizer, sampler */
    GR_SESSION_CHECK,   /* every check a training run makes, reading only the
                           data's headers and labels and allocating nothing
                           large: parameters and plans laid out, not held */
    GR_SESSION_EVAL,    /* the test set, parameters, the evaluation plan */
    GR_SESSION_PREDICT, /* parameters and the evaluation plan; no data */
};

struct gr_session_opts {
    int threads;               /* -1: as the config says */
    enum gr_session_mode mode;
    gr_param_fill_fn fill;     /* initializers (models/init.c); NULL: zeros */
    const struct gr_dist *dist; /* the job's ranks (runtime/session/parallel.h); NULL: one process */
    int whole_batch;           /* every step in one pass, never by leaves (runtime/session/leaves.h) */
};

/* What the periodic evaluation drives besides the schedule: early stopping
 * (its best, kept as parameters and as best.safetensors) and the target.
 * All of it is in checkpoints. */
struct gr_watch {
    double best;         /* early stopping's best metric (+-inf before the first) */
    int64_t best_step;   /* the step it was measured at; 0: none yet */
    int64_t bad;         /* evaluations since, none better by min_delta */
    int64_t stopped;     /* the step early stopping ended the run at; 0: not */
    float *best_param;   /* [param_floats] the parameters at best_step */
    int64_t target_step; /* the first step whose evaluation reached the target; 0: not yet */
    double target_epoch, target_train_seconds, target_wall_seconds, target_measured;
};

/* Samples a run reads: rows of a dataset (all of its first n, or the rows
 * listed), under the name its config gives them. */
struct gr_split {
    const char *name;     /* "data.train", "data.validation", "data.test" */
    const char *what;     /* for lines: "training", "validation", "test" */
    struct gr_dataset *d;
    const struct gr_split_cfg *cfg; /* the dataset's config (of data.train for a held-out set) */
    const int32_t *rows;  /* rows[i]: the dataset's row of sample i; NULL: row i */
    int64_t n;
};

static inline int32_t gr_split_row(const struct gr_split *sp, int64_t i) {
    return sp->rows ? sp->rows[i] : (int32_t)i;
}

struct gr_session {
    struct gr_ctx *ctx;
    const struct gr_config *cfg;
    enum gr_session_mode mode;
    gr_param_fill_fn fill;
    struct gr_dataset train, test, valid; /* valid: a validation set of its own */
    struct gr_split train_set, valid_set, test_set; /* valid_set.d NULL: none */
    const struct gr_split *eval_set; /* what periodic evaluation reads (eval.on) */
    int32_t *holdout;      /* data.train's rows: training ones, then held-out ones */
    struct gr_augment aug; /* data.train.augment, with the run's seed */
    int aug_array;         /* the augmented array of data.train, or -1 */
    int64_t aug_h, aug_w, aug_c; /* its images' height, width and channels */
    struct gr_graph g;
    struct gr_plan tp, ep; /* training, evaluation */
    struct gr_optim opt;
    struct gr_sched sched;
    struct gr_watch watch;
    struct gr_sampler sampler;
    int32_t *idx;          /* a batch's rows of its dataset */
    int loss, logits;
    int eval_targets[2];   /* the evaluation plan's: the logits, and the loss */
    int n_eval_targets;    /* when it can run at every evaluation batch */
    double grad_norm;      /* the last step's global gradient norm, before clipping */
    double norm_sum;       /* the norms since the last metrics row (log_n counts them) */
    double train_seconds;  /* training (evaluation left out) and wall time of the */
    double wall_seconds;   /* run so far, resumed runs' included: kept in checkpoints */
    int fault;             /* the last step's loss or gradient was not finite */
    double log_sum;        /* the losses since the last metrics row, and */
    int64_t log_n;         /* their count: kept in checkpoints, so that a
                              resumed run's rows equal an unbroken run's */
    int64_t steps, eval_samples;
    int64_t step;          /* training steps taken (a resume restores it);
                              the step under way, step + 1, keys the
                              kernels' random streams (tp.step) */
    /* one rank of a data-parallel job (runtime/session/parallel.h) */
    const struct gr_dist *dist; /* NULL: one process */
    int64_t part_lo;       /* this rank's first row of each batch */
    /* a step by leaves of tp.cap rows (runtime/session/leaves.h) */
    int64_t leaves;        /* 1: one pass over the whole part */
    struct gr_plan *more_tp; /* the other threads' plans, like tp */
    int n_more_tp;
    float *leaf_grads;     /* leaves 1.. gradients (leaf 0's is g.grad) */
    double *leaf_loss;     /* [leaves] */
    int64_t leaf_draw;     /* the last step's first augmentation draw */
    struct gr_leaves_pace {  /* on a busy machine (runtime/session/leaves.h) */
        int late;            /* steps in a row slower than this thread alone */
        int64_t solo;        /* steps still to run on this thread alone */
        int64_t span;        /* the last such run's length, 0 after a step in time */
    } pace;
    int whole_batch;       /* gr_session_opts.whole_batch */
    int stop;              /* the last step found some rank interrupted */
    int broken;            /* a collective failed: the ranks cannot go on together */
    double comm_seconds;   /* in the training steps' collectives */
};

/* The datasets a session reads: training (and its check) all, eval the test
 * set, predict none. */
static inline int gr_session_uses_train(const struct gr_session *s) {
    return s->mode == GR_SESSION_TRAIN || s->mode == GR_SESSION_CHECK;
}
static inline int gr_session_uses_test(const struct gr_session *s) { return s->mode != GR_SESSION_PREDICT; }

#endif
