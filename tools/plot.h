/* plot.png of a run folder's metrics, drawn by gnuplot. */
#ifndef GR_TOOLS_PLOT_H
#define GR_TOOLS_PLOT_H

#include <stddef.h>

/* Write RUN/plot.gp and render RUN/plot.png: 0, or 1 if metrics.csv holds
 * no row yet (nothing to plot), or -1 if it failed; the message in err. */
int plot_run(const char *run_dir, char *err, size_t len);

#endif
