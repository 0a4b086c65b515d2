/* Drawing a run's curves: a gnuplot script (plot.gp) next to the metrics,
 * rendered to plot.png. gnuplot (Debian's gnuplot-nox) is an outside program, so this
 * lives with the command, not in the library.
 *
 * No path is ever written into the script: gnuplot runs inside the run
 * folder and reads and writes fixed names (metrics.csv, plot.png), so a
 * folder named with quotes, newlines or gnuplot code is only ever data.
 * The one string from outside, the folder's name in the title, goes
 * through gr_put_gnuplot_string. */
/* posix_spawn_file_actions_addchdir_np */
#define _GNU_SOURCE

#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/base/fs.h"

#include "runtime/base/escape.h"

extern char **environ;

/* What the script needs from metrics.csv: whether there is any loss to
 * draw, whether every loss can go on a log scale, and the evaluated rows
 * (step, accuracy), inlined as a data block so that the accuracy curve is
 * one connected line. Rows are parsed as numbers and written back as
 * numbers: nothing of the file's text reaches the script. */
struct curves {
    int loss_rows, positive;
    FILE *evals; /* the script, at its data block */
    int eval_rows;
};

/* step,epoch,loss,eval_accuracy,...: one row, or 0 if the line is not one */
static int read_row(char *line, long long *step, double *loss, double *acc, int *has_acc) {
    char *f[4], *p = line, *end;
    for (int k = 0; k < 4; k++) {
        f[k] = p;
        p = strchr(p, ',');
        if (!p) return 0;
        *p++ = 0;
    }
    *step = strtoll(f[0], &end, 10);
    if (end == f[0] || *end || *step < 0) return 0;
    *loss = strtod(f[2], &end);
    if (end == f[2] || *end || !isfinite(*loss)) return 0;
    *has_acc = f[3][0] != 0;
    if (*has_acc) {
        *acc = strtod(f[3], &end);
        if (*end || !isfinite(*acc)) return 0;
    }
    return 1;
}

static int scan_metrics(FILE *in, struct curves *c) {
    char line[1024];
    int complete = 1;
    c->positive = 1;
    while (fgets(line, sizeof line, in)) {
        size_t n = strlen(line);
        int whole = complete && n > 0 && line[n - 1] == '\n';
        complete = n > 0 && line[n - 1] == '\n';
        if (!whole) continue; /* a line too long for a row, or one cut short */
        line[n - 1] = 0;
        long long step;
        double loss, acc = 0;
        int has_acc;
        if (!read_row(line, &step, &loss, &acc, &has_acc)) continue;
        c->loss_rows++;
        c->positive &= loss > 0;
        if (has_acc) {
            if (fprintf(c->evals, "%lld %.9g\n", step, acc) < 0) return -1;
            c->eval_rows++;
        }
    }
    return ferror(in) ? -1 : 0;
}

/* 0 written, 1 nothing to plot (the message says why), -1 failed */
static int write_script(const char *run_dir, const char *csv, const char *script, char *err, size_t len) {
    struct stat st;
    char why[160];
    FILE *in = gr_fopen_regular(csv, &st, why, sizeof why);
    if (!in) return snprintf(err, len, "%s: %s", csv, why), -1;
    FILE *f = fopen(script, "w");
    if (!f) {
        int e = errno;
        fclose(in);
        return snprintf(err, len, "%s: cannot write: %s", script, strerror(e)), -1;
    }
    fputs("# graphrun: the curves of this run; redraw with `graphrun plot RUN_DIR`\n"
          "# gnuplot runs in the run folder: cd there to run this script\n$evals << EOD\n", f);
    struct curves c = {0, 0, f, 0};
    errno = 0;
    if (scan_metrics(in, &c)) {
        int e = errno, read_failed = ferror(in);
        fclose(in);
        fclose(f);
        unlink(script);
        return snprintf(err, len, "%s: %s failed: %s", read_failed ? csv : script, read_failed ? "read" : "write",
                        strerror(e)), -1;
    }
    fclose(in);
    if (c.loss_rows == 0) {
        fclose(f);
        unlink(script);
        return snprintf(err, len, "%s has no rows yet: nothing to plot", csv), 1;
    }
    /* the title names the folder (its last part) */
    const char *name = run_dir + strlen(run_dir);
    while (name > run_dir && name[-1] == '/') name--;
    const char *tail = name;
    while (name > run_dir && name[-1] != '/') name--;
    char title[256];
    snprintf(title, sizeof title, "graphrun: %.*s", (int)(tail - name < 200 ? tail - name : 200), name);
    fprintf(f,
            "EOD\n"
            "set terminal pngcairo size 960,720 font 'sans,11' noenhanced\n"
            "set output 'plot.png'\n"
            "set grid\n"
            "set multiplot layout 2,1 title ");
    gr_put_gnuplot_string(f, title);
    fprintf(f,
            "\n"
            "set xlabel 'step'\n"
            "set ylabel 'training loss'\n"
            "%s"
            "set datafile separator ','\n"
            "plot 'metrics.csv' every ::1 using 1:3 with lines lw 1.5 lc rgb '#1f77b4' "
            "title 'loss (mean over each logged interval)'\n"
            "set datafile separator whitespace\n"
            "unset logscale y\n"
            "set ylabel 'test accuracy'\n"
            "set yrange [*:1]\n",
            c.positive ? "set logscale y\n" : "");
    if (c.eval_rows)
        fprintf(f, "plot $evals using 1:2 with linespoints lw 1.5 pt 7 ps 0.5 lc rgb '#d62728' title "
                   "'accuracy on the evaluation images'\n");
    else
        fprintf(f, "set label 1 'no evaluation in this run' at graph 0.5,0.5 center\nplot [0:1] NaN notitle\n");
    fprintf(f, "unset multiplot\n");
    int bad = ferror(f), e = errno;
    if (fclose(f) != 0 || bad) {
        if (!bad) e = errno;
        unlink(script);
        return snprintf(err, len, "%s: write failed: %s", script, strerror(e)), -1;
    }
    return 0;
}

int plot_run(const char *run_dir, char *err, size_t len) {
    char csv[4200], script[4200], log[4200];
    if (snprintf(csv, sizeof csv, "%s/metrics.csv", run_dir) >= (int)sizeof csv)
        return snprintf(err, len, "%s: path too long", run_dir), -1;
    snprintf(script, sizeof script, "%s/plot.gp", run_dir);
    snprintf(log, sizeof log, "%s/plot.log", run_dir);
    struct stat st;
    if (stat(run_dir, &st) != 0) return snprintf(err, len, "%s: %s", run_dir, strerror(errno)), -1;
    if (stat(csv, &st) != 0) return snprintf(err, len, "%s: no metrics.csv: %s", run_dir, strerror(errno)), -1;
    int w = write_script(run_dir, csv, script, err, len);
    if (w) return w;

    /* gnuplot runs in the folder; its own messages go to plot.log, kept
     * only when it fails. It gets a process group of its own, so a Ctrl-C
     * at the terminal, meant for graphrun, does not kill it halfway through
     * writing plot.png; its standard input is /dev/null, since a process
     * outside the terminal's foreground group that reads the terminal is
     * stopped, and graphrun would wait for it forever. */
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addchdir_np(&fa, run_dir);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    char *argv[] = {"gnuplot", "plot.gp", NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "gnuplot", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        unlink(log);
        return snprintf(err, len, "cannot run gnuplot in %s (apt-get install gnuplot-nox if it is missing): %s",
                        run_dir, strerror(rc)), -1;
    }
    /* a signal caught while waiting (train's SIGINT) interrupts waitpid:
     * wait again, so gnuplot is always reaped and plot.png finished before
     * graphrun goes on */
    int status;
    pid_t got;
    while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR) continue;
    if (got < 0) return snprintf(err, len, "cannot wait for gnuplot: %s", strerror(errno)), -1;
    if (WIFSIGNALED(status)) {
        unlink(log);
        return snprintf(err, len, "gnuplot was ended by signal %d (%s) before it finished %s/plot.png",
                        WTERMSIG(status), strsignal(WTERMSIG(status)), run_dir), -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return snprintf(err, len, "gnuplot failed on %s (its messages: %s)", script, log), -1;
    unlink(log);
    return 0;
}
