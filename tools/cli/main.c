/* graphrun: the command. One table of commands (each file of tools/cli/
 * exports the ones of its family: name, function, usage, options), the
 * option parser, the handlers of signals and foreign exits, and main, which
 * alone decides the exit status:
 *   0 success, 1 a problem with the config, data, checkpoint or a plugin,
 *   2 a usage error, 128 + signal after SIGINT or SIGTERM, 70 when something
 *   else (a plugin) called exit() (see exit_guard). */
#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/escape.h"
#include "runtime/base/text.h"
#include "tools/cli/cli.h"

extern const struct command gr_cmd_train, gr_cmd_check, gr_cmd_data, gr_cmd_summary, gr_cmd_expand, gr_cmd_graph,
    gr_cmd_eval, gr_cmd_predict, gr_cmd_export, gr_cmd_plot, gr_cmd_ops, gr_cmd_optimizers, gr_cmd_schedules,
    gr_cmd_gradcheck, gr_cmd_bench;

const struct command *const gr_commands[] = {
    &gr_cmd_train,   &gr_cmd_check,  &gr_cmd_data, &gr_cmd_summary,    &gr_cmd_expand,     &gr_cmd_graph,
    &gr_cmd_eval,    &gr_cmd_predict, &gr_cmd_export, &gr_cmd_plot, &gr_cmd_ops, &gr_cmd_optimizers,
    &gr_cmd_schedules, &gr_cmd_gradcheck, &gr_cmd_bench,
};
const int gr_n_commands = (int)(sizeof gr_commands / sizeof gr_commands[0]);

static const char usage_main[] =
    "usage: graphrun <command> [options]\n"
    "\n"
    "Train neural networks declared as a graph of ops in a YAML file.\n"
    "\n"
    "commands:\n"
    "  train CONFIG       train, print progress, write a run folder, report test accuracy\n"
    "  check CONFIG       validate CONFIG and its data files, print the graph\n"
    "  data CONFIG        each dataset's files, samples, arrays, values and label counts\n"
    "  summary CONFIG     the graph as a table: shapes, parameters, FLOPs, memory\n"
    "  expand CONFIG      CONFIG with its shorthand written out: every node explicit\n"
    "  graph CONFIG       the graph in Graphviz DOT (dot -Tpng renders it)\n"
    "  eval CONFIG        accuracy, per-class precision and recall, confusion matrix\n"
    "  predict CONFIG     classify PNG or PGM images\n"
    "  export CONFIG      write the trained model as ONNX\n"
    "  plot RUN_DIR       redraw a run folder's plot.png\n"
    "  ops [NAME]         list the ops (built-in and plugins), or describe one\n"
    "  optimizers [NAME]  list the optimizers, or describe one\n"
    "  schedules [NAME]   list the learning-rate schedules, or describe one\n"
    "  gradcheck CONFIG   check every op of CONFIG's graph against finite differences\n"
    "  bench CONFIG       time training epochs and test-set evaluation\n"
    "\n"
    "options:\n"
    "  -h, --help         this help; graphrun COMMAND --help for a command's\n"
    "  --version          print the version\n"
    "\n"
    "Commands that read a config take --set PATH=VALUE and --unset PATH (both\n"
    "repeatable), which change the config before it is checked:\n"
    "--set train.optimizer.lr=0.001 --set graph.lstm.num_units=128 (graph nodes\n"
    "by name), --unset train.steps --set train.epochs=3. Plugins (shared\n"
    "libraries adding ops) are loaded from every folder in GRAPHRUN_PLUGIN_PATH\n"
    "(':'-separated) and from a config's `plugins:` list.\n";

/* ---- options ---------------------------------------------------------------- */

int cli_takes(const struct command *c, const char *opt) {
    size_t n = strlen(opt);
    for (const char *p = c->options; (p = strstr(p, opt)); p += n)
        if ((p == c->options || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
    return 0;
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    const char *p = s + (*s == '-' || *s == '+');
    if (!*p || strspn(p, "0123456789") != strlen(p)) return -1;
    errno = 0;
    long v = strtol(s, NULL, 10);
    if (errno == ERANGE || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

/* A finite number in [lo, hi], all of s. */
static int parse_double(const char *s, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno == ERANGE || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

/* "unknown option '--thread'" with the closest of the command's options, or
 * the commands that take it when this one does not. */
/* An argument as a message shows it: escaped onto the one line (a newline
 * as \n, as errors about config values show them), cut to fit buf. */
static const char *shown(char *buf, size_t len, const char *s) {
    FILE *f = fmemopen(buf, len, "w");
    buf[0] = 0;
    if (f) {
        gr_put_text(f, s);
        fclose(f);
    }
    buf[len - 1] = 0;
    return buf;
}

static void unknown_option(const struct command *c, const char *arg) {
    struct gr_suggest sg;
    char buf[256], opt[256];
    shown(opt, sizeof opt, arg);
    gr_suggest_init(&sg, arg);
    snprintf(buf, sizeof buf, "%s", c->options);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) gr_suggest_offer(&sg, t);
    const char *near = gr_suggest_best(&sg);
    if (near) {
        fprintf(stderr, "graphrun %s: unknown option '%s' (did you mean '%s'?)\n", c->name, opt, near);
        return;
    }
    char others[256] = "";
    size_t used = 0;
    for (int k = 0; k < gr_n_commands; k++)
        if (cli_takes(gr_commands[k], arg))
            used += (size_t)snprintf(others + used, sizeof others - used, "%s%s", used ? ", " : "", gr_commands[k]->name);
    if (used)
        fprintf(stderr, "graphrun %s: %s is an option of %s, not of %s (see graphrun %s --help)\n", c->name, opt, others,
                c->name, c->name);
    else
        fprintf(stderr, "graphrun %s: unknown option '%s' (see graphrun %s --help)\n", c->name, opt, c->name);
}

/* Returns 0 to run, 1 after printing help, 2 on a usage error. */
/* Option `a` with its value v into o; 0, or 2 on a usage error (printed). */
static int take_value(const struct command *c, const char *a, const char *v, struct cli *o) {
    int *num = NULL, lo = 1, hi = 1 << 20;
    if (!strcmp(a, "--set")) {
        if (o->n_sets == MAX_SETS) {
            fprintf(stderr, "graphrun %s: at most %d --set\n", c->name, MAX_SETS);
            return 2;
        }
        /* a text that would read as a removal (runtime/config/overrides.h) */
        if (!strncmp(v, GR_OVERRIDE_UNSET, strlen(GR_OVERRIDE_UNSET))) {
            char got[256];
            fprintf(stderr, "graphrun %s: --set %s: expected PATH=VALUE (--unset PATH removes a key)\n", c->name,
                    shown(got, sizeof got, v));
            return 2;
        }
        o->sets[o->n_sets++] = v;
    } else if (!strcmp(a, "--unset")) {
        /* "--unset PATH" removes the key (runtime/config/overrides.c) */
        if (o->n_sets == MAX_SETS || snprintf(o->unset_buf[o->n_sets], sizeof o->unset_buf[0], "%s%s",
                                              GR_OVERRIDE_UNSET, v) >=
                                          (int)sizeof o->unset_buf[0]) {
            fprintf(stderr, "graphrun %s: at most %d --set and --unset, and an --unset PATH under 256 bytes\n",
                    c->name, MAX_SETS);
            return 2;
        }
        o->sets[o->n_sets] = o->unset_buf[o->n_sets];
        o->n_sets++;
    } else if (!strcmp(a, "--plugin")) {
        if (o->n_plugins == (int)(sizeof o->plugins / sizeof o->plugins[0])) {
            fprintf(stderr, "graphrun %s: at most %d --plugin\n", c->name, o->n_plugins);
            return 2;
        }
        o->plugins[o->n_plugins++] = v;
    } else if (!strcmp(a, "--checkpoint")) o->checkpoint = v;
    else if (!strcmp(a, "--resume")) o->resume = v;
    else if (!strcmp(a, "--run-dir")) o->run_dir = v;
    else if (!strcmp(a, "-o")) o->output = v;
    else if (!strcmp(a, "--predictions")) o->predictions = v;
    else if (!strcmp(a, "--threads")) num = &o->threads, lo = 0, hi = 64;
    else if (!strcmp(a, "--batch")) num = &o->batch;
    else if (!strcmp(a, "--seed")) num = &o->seed, lo = 0, hi = INT32_MAX;
    else if (!strcmp(a, "--epochs")) num = &o->epochs, hi = 1000;
    else if (!strcmp(a, "--eval-repeats")) num = &o->eval_repeats, hi = 100;
    if (num && parse_int(v, lo, hi, num)) {
        char got[256];
        fprintf(stderr, "graphrun %s: %s: expected an integer in [%d, %d], got '%s'\n", c->name, a, lo, hi,
                shown(got, sizeof got, v));
        return 2;
    }
    /* gradcheck's step and tolerances: positive, below 1 */
    double *real = !strcmp(a, "--eps") ? &o->eps : !strcmp(a, "--tolerance") ? &o->rtol : !strcmp(a, "--atol") ? &o->atol
                                                                                                             : NULL;
    if (real && parse_double(v, 1e-12, 1, real)) {
        char got[256];
        fprintf(stderr, "graphrun %s: %s: expected a number in [1e-12, 1], got '%s'\n", c->name, a,
                shown(got, sizeof got, v));
        return 2;
    }
    return 0;
}

static int parse(const struct command *c, int argc, char **argv, struct cli *o) {
    memset(o, 0, sizeof *o);
    o->cmd = c;
    o->threads = -1;
    o->batch = 0;
    o->seed = 1;
    o->epochs = 1;
    o->eval_repeats = 3;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(c->usage, stdout);
            return 1;
        }
        if (a[0] != '-' || !a[1]) {
            if (o->n_pos == (int)(sizeof o->pos / sizeof o->pos[0]) || o->n_pos == c->positional_max) {
                char got[256];
                fprintf(stderr, "graphrun %s: unexpected argument '%s' (see graphrun %s --help)\n", c->name,
                        shown(got, sizeof got, a), c->name);
                return 2;
            }
            o->pos[o->n_pos++] = a;
            continue;
        }
        if (!cli_takes(c, a)) {
            unknown_option(c, a);
            return 2;
        }
        /* flags */
        if (!strcmp(a, "--no-run-dir")) { o->no_run_dir = 1; continue; }
        if (!strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        if (!strcmp(a, "--json")) { o->json = 1; continue; }
        if (!strcmp(a, "--softmax")) { o->softmax = 1; continue; }
        if (!strcmp(a, "--backward")) { o->backward = 1; continue; }
        /* options with a value */
        if (i + 1 >= argc) {
            fprintf(stderr, "graphrun %s: %s needs a value (see graphrun %s --help)\n", c->name, a, c->name);
            return 2;
        }
        int rc = take_value(c, a, argv[++i], o);
        if (rc) return rc;
    }
    if (o->n_pos < c->positional_min) {
        fprintf(stderr, "graphrun %s: missing %s (see graphrun %s --help)\n", c->name,
                !strcmp(c->name, "plot") ? "RUN_DIR" : o->n_pos == 0 ? "CONFIG" : "IMAGE", c->name);
        return 2;
    }
    if (cli_takes(c, "--checkpoint") && !o->checkpoint) {
        fprintf(stderr, "graphrun %s: --checkpoint CKPT is required (see graphrun %s --help)\n", c->name, c->name);
        return 2;
    }
    return 0;
}

/* ---- main's state ------------------------------------------------------------- */

/* main's state, the only mutable state at file scope in graphrun: what
 * signal and exit handlers need, which cannot be handed a context. The
 * interrupt flag is set by the signal handler and read by the training
 * loop through ctx.interrupt. */
static volatile sig_atomic_t g_interrupt;

static void on_signal(int sig) {
    if (g_interrupt) { /* second signal: stop now */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_interrupt = sig;
}

/* What the plugin loader is running, for exit_guard (main's state, like
 * g_interrupt). */
static struct gr_plugin_activity g_plugin_activity;

volatile sig_atomic_t *cli_interrupt(void) { return &g_interrupt; }
struct gr_plugin_activity *cli_plugin_activity(void) { return &g_plugin_activity; }

void cli_catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    /* the handler only sets the flag, which the loop polls: a system call it
     * interrupts (a write to a slow pipe, waiting for gnuplot) goes on rather
     * than failing with EINTR */
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- main ------------------------------------------------------------------- */

/* Everything a command printed must have reached the standard output: a
 * full disk or a closed pipe is a failure, said in one line. stdio keeps
 * only the error flag of an earlier failed write, so its errno is known
 * only when the last flush is the one that fails. */
static int check_stdout(const char *cmd, int rc) {
    errno = 0;
    int failed = fflush(stdout) != 0, e = errno;
    if (!failed && !ferror(stdout)) return rc;
    if (rc == 0)
        fprintf(stderr, "graphrun%s%s: cannot write the standard output: %s\n", cmd ? " " : "", cmd ? cmd : "",
                failed && e ? strerror(e) : "an earlier write failed");
    return rc ? rc : 1;
}

/* OpenBLAS chooses its kernels by the CPU models it knows, and 0.3.21 falls
 * back to generic SSE3 kernels ("Prescott", about 4x slower) on newer ones.
 * When it reports a core without AVX2 kernels on a CPU that has AVX-512 (F,
 * DQ, CD, BW, VL) or AVX2 and FMA, the best matching core it knows is set in
 * OPENBLAS_CORETYPE, which OpenBLAS reads only as it loads, and graphrun
 * executes itself again, once: the variable, now set, stops a second round,
 * and a user's own setting is never changed. If the exec fails, graphrun
 * goes on with the generic kernels. The program is named by the path
 * /proc/self/exe links to, not by the link itself: under valgrind the link
 * is valgrind's own tool, which cannot be run directly. */
static void blas_pick_core(char **argv) {
#if defined(__x86_64__)
    static const char *const avx2_cores[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"};
    const char *core = openblas_get_corename();
    if (getenv("OPENBLAS_CORETYPE") || !core) return;
    for (size_t i = 0; i < sizeof avx2_cores / sizeof avx2_cores[0]; i++)
        if (strcmp(core, avx2_cores[i]) == 0) return;
    __builtin_cpu_init();
    const char *want = NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (!want || n <= 0 || setenv("OPENBLAS_CORETYPE", want, 1) != 0) return;
    self[n] = 0;
    execv(self, argv);
    unsetenv("OPENBLAS_CORETYPE");
#else
    (void)argv;
#endif
}

/* Only main decides the exit status, but a plugin's code can call exit()
 * itself: its constructors run inside dlopen, before graphrun can look at
 * the library, and its init and kernels run later. Such an exit would end
 * graphrun silently with the plugin's status, 0 included. This handler,
 * registered first thing in main and disarmed when main returns, turns it
 * into one line and status 70 (EX_SOFTWARE). */
#define GR_EXIT_FOREIGN 70
static volatile sig_atomic_t g_main_returned;

static void exit_guard(void) {
    if (g_main_returned) return;
    fflush(stdout);
    const char *path = g_plugin_activity.path, *doing = g_plugin_activity.doing;
    if (path)
        fprintf(stderr, "graphrun: exit() called from outside graphrun's main, probably by plugin %s while %s\n", path,
                doing ? doing : "running");
    else
        fprintf(stderr, "graphrun: exit() called from outside graphrun's main (by a plugin's or a library's code)\n");
    _exit(GR_EXIT_FOREIGN);
}

static int run_command(int argc, char **argv);

/* A standard stream the caller closed (graphrun ... >&-) left its number
 * free, and the next file opened took it: with stdout closed, the run
 * folder's lock file became fd 1 and received everything printed. Each
 * closed one is held by the root folder, opened read-only: writes to it
 * still fail with EBADF, as on a closed stream (check_stdout reports it),
 * reads with EISDIR, a reopen by name (-o /dev/stdout) with EISDIR (a
 * held /dev/null let that export succeed into nothing), and no file
 * graphrun opens can become a standard stream. */
static void hold_closed_std_fds(void) {
    /* the lowest free number is taken: fd itself, those below it being open */
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) (void)open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int main(int argc, char **argv) {
    hold_closed_std_fds();
    blas_pick_core(argv);
    atexit(exit_guard);
    int rc = run_command(argc, argv);
    g_main_returned = 1;
    return rc;
}

static int run_command(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage_main, stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
        fputs(usage_main, stdout);
        return check_stdout(NULL, 0);
    }
    if (!strcmp(name, "--version")) {
        printf("graphrun %s (plugin ABI %d)\n", GR_VERSION, GR_ABI_VERSION);
        printf("BLAS: %s (kernels for %s)\n", openblas_get_config(), openblas_get_corename());
        return check_stdout(NULL, 0);
    }
    for (int c = 0; c < gr_n_commands; c++) {
        const struct command *cmd = gr_commands[c];
        if (strcmp(name, cmd->name) != 0) continue;
        struct cli *o = malloc(sizeof *o); /* 50 KB: off the stack */
        if (!o) return 1;
        int p = parse(cmd, argc - 2, argv + 2, o);
        int rc = p ? (p == 1 ? 0 : 2) : cmd->run(o);
        free(o);
        return check_stdout(cmd->name, rc);
    }
    struct gr_suggest sg;
    gr_suggest_init(&sg, name);
    for (int c = 0; c < gr_n_commands; c++) gr_suggest_offer(&sg, gr_commands[c]->name);
    const char *near = gr_suggest_best(&sg);
    char got[256];
    shown(got, sizeof got, name);
    if (near) fprintf(stderr, "graphrun: unknown command '%s' (did you mean '%s'?)\n", got, near);
    else fprintf(stderr, "graphrun: unknown command '%s' (see graphrun --help)\n", got);
    return 2;
}
