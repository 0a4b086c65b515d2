/* The schedule contract: what one schedule file defines, as runtime/optim/
 * files define optimizers. A schedule is a descriptor: its name, its keys
 * (checked in the config like every other key), the state it keeps (saved
 * in checkpoints) and the learning rate it gives at a position of the run.
 *
 * Adding one: write runtime/schedule/<name>.c exporting a `struct
 * gr_sched_desc`, and list it in runtime/schedule/builtin.c. Nothing else
 * changes: the config reads its keys from the descriptor, checkpoints save
 * its state, `graphrun schedules` lists it.
 *
 * Every schedule also takes `unit` (steps or epochs) and `warmup`, which the
 * runner (runtime/engine/schedule.c) applies to all of them alike: the
 * position x a schedule sees counts whole units from the end of the warmup,
 * and its horizon is the number of positions the rest of the run visits. */
#ifndef GR_SCHEDULE_SCHEDULE_H
#define GR_SCHEDULE_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#define GR_SCHED_MAX_KEYS 8
#define GR_SCHED_MAX_STATE 4
#define GR_SCHED_MAX_LIST 64
#define GR_SCHED_PI 3.14159265358979323846

enum gr_sched_key_type {
    GR_SCHED_FLOAT,    /* a number in [min, max], or (min, max] with above_min */
    GR_SCHED_INT,      /* an integer in [min, max] */
    GR_SCHED_BOOL,     /* true or false, as 1 or 0 */
    GR_SCHED_CHOICE,   /* one of `choices`, as its index */
    GR_SCHED_INT_LIST, /* increasing integers in [min, max] (at most GR_SCHED_MAX_LIST) */
};

/* A key; `def` when the config leaves it out, unless `required`, or, with
 * `def_horizon`, the horizon (a period that is the rest of the run). */
struct gr_sched_key {
    const char *name;
    enum gr_sched_key_type type;
    const char *doc;
    double def, min, max;
    int above_min, required, def_horizon;
    const char *const *choices; /* NULL-terminated */
};

/* What the periodic evaluation measured (reduce_on_plateau reads it). */
struct gr_sched_metrics {
    double loss, accuracy;
    int has_loss, has_accuracy;
};

/* What a schedule sees: its keys' values (hp[k]; an int list in list[]),
 * the configured rate, the position and the horizon, its state. */
struct gr_sched_args {
    const double *hp;
    const int64_t *list;
    int n_list;
    const int *given; /* given[k]: the config set key k */
    double base;     /* train.optimizer.lr */
    int64_t x;       /* position: whole units since the warmup ended, from 0 */
    int64_t horizon; /* positions the run visits after the warmup (>= 1) */
};

struct gr_sched_desc {
    const char *name;    /* as the config writes it: "cosine" */
    const char *title;   /* as prose writes it */
    const char *summary; /* the rate, in one line of math */
    const struct gr_sched_key *keys;
    int n_keys;
    int n_state;
    const char *const *state_names; /* [n_state], as checkpoints name them */
    /* The rate at position a->x. */
    double (*lr)(const struct gr_sched_args *a, const double *state);
    /* Optional: keys that cannot go together, or against the run's length.
     * Returns -1, or the index of the key at fault with the reason in msg. */
    int (*check)(const struct gr_sched_args *a, char *msg, size_t len);
    /* Optional: the state at the start (else zeros). */
    void (*start)(const struct gr_sched_args *a, double *state);
    /* Optional: a periodic evaluation measured m; update the state. */
    void (*observe)(const struct gr_sched_args *a, double *state, const struct gr_sched_metrics *m);
    /* Optional: which measurement observe needs ("loss", "accuracy"), from
     * the keys; NULL: none. */
    const char *(*needs)(const double *hp);
};

/* A schedule as a config chose it (the defaults where the config is silent). */
struct gr_sched_cfg {
    const struct gr_sched_desc *desc;
    double hp[GR_SCHED_MAX_KEYS];
    int64_t list[GR_SCHED_MAX_LIST];
    int n_list;
    int epochs;             /* unit: 0 steps, 1 epochs */
    int64_t warmup;         /* warmup length, 0: none */
    int warmup_epochs;      /* warmup counted in epochs (else steps) */
    double warmup_start;    /* the warmup's first factor: lr rises linearly from start lr */
    int given[GR_SCHED_MAX_KEYS]; /* the config gave key k */
};

/* Index of desc's key `name`, or -1. */
static inline int gr_sched_key_index(const struct gr_sched_desc *desc, const char *name) {
    for (int k = 0; k < desc->n_keys; k++) {
        const char *a = desc->keys[k].name, *b = name;
        while (*a && *a == *b) a++, b++;
        if (*a == *b) return k;
    }
    return -1;
}

/* runtime/schedule/builtin.c: every built-in schedule, in listing order;
 * the first, constant, is what a config without train.schedule runs. */
extern const struct gr_sched_desc *const gr_sched_builtin[];
extern const int gr_sched_builtin_count;

#endif
