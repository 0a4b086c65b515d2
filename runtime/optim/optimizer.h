/* The optimizer contract: what one optimizer file defines, as ops/ files
 * define ops. An optimizer is a descriptor: its name, its hyperparameters
 * (checked in the config like every other key), the state it keeps per
 * parameter value (saved in checkpoints by name), and an update over a
 * stretch of the flat parameter block.
 *
 * Adding one: write runtime/optim/<name>.c exporting a `struct
 * gr_optim_desc`, and list it in runtime/optim/builtin.c. Nothing else
 * changes: the config reads its keys from the descriptor, checkpoints save
 * its state tensors as optim/<state>/<param>, `graphrun optimizers` lists it.
 *
 * Every optimizer also takes `lr` (in (0, 1000]; a schedule may change it
 * from step to step), and one with a `weight_decay` key also takes
 * `weight_decay_exclude` (glob patterns of parameter names the decay spares);
 * a descriptor declares only its own keys. An update runs on stretches of
 * the block, split over threads; it must treat every element independently,
 * so the split never changes a result. */
#ifndef GR_OPTIM_OPTIMIZER_H
#define GR_OPTIM_OPTIMIZER_H

#include <stddef.h>
#include <stdint.h>

#define GR_OPTIM_MAX_KEYS 8
#define GR_OPTIM_MAX_STATE 4
#define GR_OPTIM_MAX_SCALARS 8

enum gr_optim_key_type { GR_OPTIM_FLOAT, GR_OPTIM_BOOL };

/* A hyperparameter: a number in [min, max] ((min, max] with above_min), or
 * a boolean; `def` when the config leaves it out. */
struct gr_optim_key {
    const char *name;
    enum gr_optim_key_type type;
    const char *doc;
    double def, min, max;
    int above_min;
};

enum { GR_OPTIM_STATE_NONNEGATIVE = 1u << 0 }; /* a loaded value below 0 is refused */

/* One value per parameter value, kept across steps: zero at the start, or
 * the value of key `init_from`; held (and saved) only when key `only_with`
 * is not 0 (NULL: always), as AMSGrad's running maximum is only with
 * amsgrad: true. */
struct gr_optim_state {
    const char *name;
    const char *doc;
    unsigned flags;
    const char *only_with;
    const char *init_from;
};

/* What an update sees. param, grad and state[k] are the same stretch of
 * their blocks (state[k] NULL when the state is not held); hp[k] is key k's
 * value (a boolean as 0 or 1). */
struct gr_optim_args {
    float *param;
    const float *grad;
    float *state[GR_OPTIM_MAX_STATE];
    const double *hp;
    double lr; /* this step's rate, as the schedule set it */
    int64_t t; /* this step's number: 1 on the first update */
    float scalars[GR_OPTIM_MAX_SCALARS]; /* set by prepare, once per step */
    /* what weight_decay is multiplied by on this stretch: 1, or 0 for the
     * parameters weight_decay_exclude names */
    double decay;
};

struct gr_optim_desc {
    const char *name;  /* as the config writes it: "adam" */
    const char *title; /* as prose writes it: "Adam" */
    const char *summary; /* the update, in one line of math */
    const struct gr_optim_key *keys;
    int n_keys;
    const struct gr_optim_state *state;
    int n_state;
    /* Optional: values every element shares this step (bias corrections),
     * into a->scalars, before any update runs. */
    void (*prepare)(struct gr_optim_args *a);
    /* Update elements [begin, end) of the stretch a->param .. */
    void (*update)(const struct gr_optim_args *a, int64_t begin, int64_t end);
    /* Optional: keys that cannot go together (nesterov without momentum).
     * Returns -1, or the index of the key at fault with the reason in msg. */
    int (*check)(const double *hp, char *msg, size_t len);
};

/* An optimizer as a config chose it: which one, its rate, its keys' values
 * (indexed like desc->keys; the defaults where the config is silent). */
struct gr_optim_cfg {
    const struct gr_optim_desc *desc;
    double lr;
    double hp[GR_OPTIM_MAX_KEYS];
};

/* cfg with desc's defaults and learning rate lr. */
static inline void gr_optim_cfg_defaults(struct gr_optim_cfg *cfg, const struct gr_optim_desc *desc, double lr) {
    *cfg = (struct gr_optim_cfg){desc, lr, {0}};
    for (int k = 0; k < desc->n_keys; k++) cfg->hp[k] = desc->keys[k].def;
}

/* Index of desc's key `name`, or -1. */
static inline int gr_optim_key_index(const struct gr_optim_desc *desc, const char *name) {
    for (int k = 0; k < desc->n_keys; k++) {
        const char *a = desc->keys[k].name, *b = name;
        while (*a && *a == *b) a++, b++;
        if (*a == *b) return k;
    }
    return -1;
}

/* Whether state k is held with these key values. */
static inline int gr_optim_state_held(const struct gr_optim_desc *desc, const double *hp, int k) {
    const char *w = desc->state[k].only_with;
    if (!w) return 1;
    int i = gr_optim_key_index(desc, w);
    return i >= 0 && hp[i] != 0;
}

/* runtime/optim/builtin.c: every built-in optimizer, in listing order. */
extern const struct gr_optim_desc *const gr_optim_builtin[];
extern const int gr_optim_builtin_count;

#endif
