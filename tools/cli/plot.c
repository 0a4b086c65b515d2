/* graphrun plot: a run folder's plot.png drawn again from its metrics. */
#include <stdio.h>

#include "tools/cli/cli.h"
#include "tools/plot.h"

static int cmd_plot(struct cli *o) {
    char err[512];
    if (plot_run(o->pos[0], err, sizeof err) != 0) {
        fprintf(stderr, "graphrun plot: %s\n", err);
        return 1;
    }
    printf("%s/plot.png\n", o->pos[0]);
    return 0;
}


const struct command gr_cmd_plot = {"plot", cmd_plot,
    "usage: graphrun plot RUN_DIR\n"
     "\n"
     "Redraw RUN_DIR/plot.png from RUN_DIR/metrics.csv (training loss above,\n"
     "evaluation accuracy below) with gnuplot.\n",
    "", 1, 1};
