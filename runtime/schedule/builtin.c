/* The built-in schedules, in the order `graphrun schedules` lists them;
 * constant first, as the default. Adding one: write
 * runtime/schedule/<name>.c exporting gr_sched_<name>, and add one X(<name>)
 * line here. */
#include "runtime/schedule/schedule.h"

#define GR_SCHEDULES(X) \
    X(constant)         \
    X(step)             \
    X(multistep)        \
    X(exponential)      \
    X(cosine)           \
    X(one_cycle)        \
    X(reduce_on_plateau) \
    /* one X(name) line per entry, above this one */

#define DECLARE(n) extern const struct gr_sched_desc gr_sched_##n;
GR_SCHEDULES(DECLARE)
#define ENTRY(n) &gr_sched_##n,
const struct gr_sched_desc *const gr_sched_builtin[] = {GR_SCHEDULES(ENTRY)};
const int gr_sched_builtin_count = (int)(sizeof gr_sched_builtin / sizeof gr_sched_builtin[0]);
