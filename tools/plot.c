/* Drawing a run's curves: a gnuplot script (plot.gp) next to the metrics,
 * rendered to plot.png. gnuplot (Debian's gnuplot-nox) is an outside program, so this
 * lives with the command, not in the library. */
/* realpath() */
#define _XOPEN_SOURCE 700

#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The script: the loss read from metrics.csv, the evaluated rows (step,
 * accuracy) inlined as a data block so that the accuracy curve is one
 * connected line. */
static int write_script(const char *run_dir, const char *csv, const char *script, const char *png, char *err,
                        size_t len) {
    FILE *in = fopen(csv, "r");
    if (!in) return snprintf(err, len, "%s: cannot read: %s", csv, strerror(errno)), -1;
    FILE *f = fopen(script, "w");
    if (!f) {
        fclose(in);
        return snprintf(err, len, "%s: cannot write: %s", script, strerror(errno)), -1;
    }
    fprintf(f, "# graphrun: the curves of this run; redraw with `graphrun plot %s`\n$evals << EOD\n", run_dir);
    char line[512];
    int rows = 0;
    while (fgets(line, sizeof line, in)) {
        /* step,epoch,loss,eval_accuracy,... : keep rows with an accuracy */
        const char *field = line;
        for (int k = 0; k < 3 && field; k++) field = strchr(field, ',') ? strchr(field, ',') + 1 : NULL;
        if (!field || *field == ',' || line[0] < '0' || line[0] > '9') continue;
        fprintf(f, "%.*s %.*s\n", (int)strcspn(line, ","), line, (int)strcspn(field, ","), field);
        rows++;
    }
    fclose(in);
    fprintf(f,
            "EOD\n"
            "set terminal pngcairo size 960,720 font 'sans,11' noenhanced\n"
            "set output '%s'\n"
            "set grid\n"
            "set multiplot layout 2,1 title 'graphrun: %s'\n"
            "set xlabel 'step'\n"
            "set ylabel 'training loss'\n"
            "set logscale y\n"
            "set datafile separator ','\n"
            "plot '%s' every ::1 using 1:3 with lines lw 1.5 lc rgb '#1f77b4' title 'loss (mean over each logged interval)'\n"
            "set datafile separator whitespace\n"
            "unset logscale y\n"
            "set ylabel 'test accuracy'\n"
            "set yrange [*:1]\n",
            png, run_dir, csv);
    if (rows)
        fprintf(f, "plot $evals using 1:2 with linespoints lw 1.5 pt 7 ps 0.5 lc rgb '#d62728' title "
                   "'accuracy on the evaluation images'\n");
    else
        fprintf(f, "set label 1 'no evaluation in this run' at graph 0.5,0.5 center\nplot [0:1] NaN notitle\n");
    fprintf(f, "unset multiplot\n");
    return fclose(f) == 0 ? 0 : (snprintf(err, len, "%s: write failed", script), -1);
}

int plot_run(const char *run_dir, char *err, size_t len) {
    /* absolute paths in the script, so that gnuplot runs it from anywhere */
    char *abs = realpath(run_dir, NULL);
    if (!abs) return snprintf(err, len, "%s: %s", run_dir, strerror(errno)), -1;
    char csv[4200], script[4200], png[4200], log[4200];
    snprintf(csv, sizeof csv, "%s/metrics.csv", abs);
    snprintf(script, sizeof script, "%s/plot.gp", abs);
    snprintf(png, sizeof png, "%s/plot.png", abs);
    snprintf(log, sizeof log, "%s/plot.log", abs);
    free(abs);
    struct stat st;
    if (stat(csv, &st) != 0) return snprintf(err, len, "%s: no metrics.csv: %s", run_dir, strerror(errno)), -1;
    if (write_script(run_dir, csv, script, png, err, len)) return -1;

    /* gnuplot's own messages go to plot.log, kept only when it fails */
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *argv[] = {"gnuplot", script, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        unlink(log);
        return snprintf(err, len, "gnuplot not found (apt-get install gnuplot-nox): %s", strerror(rc)), -1;
    }
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return snprintf(err, len, "gnuplot failed on %s (its messages: %s)", script, log), -1;
    unlink(log);
    return 0;
}
