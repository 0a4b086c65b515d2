/* The built-in optimizers, in the order `graphrun optimizers` lists them.
 * Adding one: write runtime/optim/<name>.c exporting gr_optim_<name>, and
 * add one X(<name>) line here. */
#include "runtime/optim/optimizer.h"

#define GR_OPTIMIZERS(X) \
    X(sgd)               \
    X(adam)              \
    X(adamw)             \
    X(rmsprop)           \
    X(adagrad)           \
    /* one X(name) line per entry, above this one */

#define DECLARE(n) extern const struct gr_optim_desc gr_optim_##n;
GR_OPTIMIZERS(DECLARE)
#define ENTRY(n) &gr_optim_##n,
const struct gr_optim_desc *const gr_optim_builtin[] = {GR_OPTIMIZERS(ENTRY)};
const int gr_optim_builtin_count = (int)(sizeof gr_optim_builtin / sizeof gr_optim_builtin[0]);
