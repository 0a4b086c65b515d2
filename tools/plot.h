/* plot.png of a run folder's metrics, drawn by gnuplot. */
#ifndef GR_TOOLS_PLOT_H
#define GR_TOOLS_PLOT_H

#include <stddef.h>

/* Write RUN/plot.gp and render RUN/plot.png; -1 with a message in err. */
int plot_run(const char *run_dir, char *err, size_t len);

#endif
