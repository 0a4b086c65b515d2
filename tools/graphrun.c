/* graphrun: the command. Only main decides the exit status:
 *   0 success, 1 a problem with the config, data, checkpoint or a plugin,
 *   2 a usage error, 128 + signal after SIGINT or SIGTERM, 70 when something
 *   else (a plugin) called exit() (see exit_guard). */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "images.h"
#include "models/builder.h"
#include "ops/core.h"
#include "plot.h"
#include "runtime/yaml/check.h"
#include "runtime/session/checkpoint.h"
#include "runtime/config/config.h"
#include "runtime/base/escape.h"
#include "runtime/base/ctx.h"
#include "runtime/host/host.h"
#include "runtime/base/text.h"
#include "runtime/engine/harness.h"
#include "runtime/host/plugin.h"
#include "runtime/host/registry.h"
#include "runtime/host/threads.h"
#include "runtime/session/train.h"

/* ---- usage ------------------------------------------------------------------ */

static const char usage_main[] =
    "usage: graphrun <command> [options]\n"
    "\n"
    "Train neural networks declared as a graph of ops in a YAML file.\n"
    "\n"
    "commands:\n"
    "  train CONFIG       train, print progress, write a run folder, report test accuracy\n"
    "  check CONFIG       validate CONFIG and its data files, print the graph\n"
    "  summary CONFIG     the graph as a table: shapes, parameters, FLOPs, memory\n"
    "  graph CONFIG       the graph in Graphviz DOT (dot -Tpng renders it)\n"
    "  eval CONFIG        accuracy, per-class precision and recall, confusion matrix\n"
    "  predict CONFIG     classify PNG or PGM images\n"
    "  plot RUN_DIR       redraw a run folder's plot.png\n"
    "  ops [NAME]         list the ops (built-in and plugins), or describe one\n"
    "  gradcheck CONFIG   check every op of CONFIG's graph against finite differences\n"
    "  bench CONFIG       time training epochs and test-set evaluation\n"
    "\n"
    "options:\n"
    "  -h, --help         this help; graphrun COMMAND --help for a command's\n"
    "  --version          print the version\n"
    "\n"
    "Commands that read a config take --set PATH=VALUE (repeatable), which changes\n"
    "the config before it is checked: --set train.optimizer.lr=0.001\n"
    "--set graph.lstm.num_units=128 (graph nodes by name). Plugins (shared\n"
    "libraries adding ops) are loaded from every folder in GRAPHRUN_PLUGIN_PATH\n"
    "(':'-separated) and from a config's `plugins:` list.\n";

struct command {
    const char *name;
    const char *usage;
    const char *options; /* the options it takes, space-separated */
    int positional_min, positional_max;
};

static const struct command commands[] = {
    {"train",
     "usage: graphrun train CONFIG [--set PATH=VALUE]... [--threads N] [--resume CKPT]\n"
     "                     [--run-dir DIR | --no-run-dir] [--quiet]\n"
     "\n"
     "Build the graph declared in CONFIG and train it. Every eval.every steps it\n"
     "prints 'train loss: L | test accuracy: A' (accuracy on the first\n"
     "eval.samples test images); at the end, the accuracy on the whole test set\n"
     "and the wall time. On a terminal a progress line is redrawn in place;\n"
     "otherwise (pipes, CI) only those lines are printed.\n"
     "\n"
     "Each run writes a folder (runs/<config>-<date>-<time> by default, with -2,\n"
     "-3, ... when taken; the path is printed; one run at a time may use a\n"
     "folder) holding config.yaml (the effective config), metrics.csv and\n"
     "metrics.jsonl (step, epoch, loss, eval accuracy, learning rate, wall time),\n"
     "checkpoint.safetensors (unless train.checkpoint.path says elsewhere) and\n"
     "plot.png (loss and accuracy, drawn by gnuplot).\n"
     "\n"
     "options:\n"
     "  --set PATH=VALUE   change the config before it is checked (repeatable)\n"
     "  --threads N        threads for kernels and BLAS (0: one per CPU this process\n"
     "                     may use; default: the config's train.threads, else 0)\n"
     "  --resume CKPT      continue from a checkpoint; a checkpoint inside a run\n"
     "                     folder continues that folder\n"
     "  --run-dir DIR      write the run folder here\n"
     "  --no-run-dir       write no run folder\n"
     "  --quiet            print only the result\n"
     "\n"
     "A checkpoint is written at the end, every train.checkpoint.every steps, and\n"
     "on SIGINT or SIGTERM (then graphrun exits with 130 or 143; a second signal\n"
     "stops it at once). A run resumed with the same config and thread count\n"
     "prints the same losses as one never stopped.\n",
     "--set --threads --resume --run-dir --no-run-dir --quiet", 1, 1},
    {"check",
     "usage: graphrun check CONFIG [--set PATH=VALUE]...\n"
     "\n"
     "Validate CONFIG and its data files as a training run would, without\n"
     "training: every key, every node and shape, the data's headers, sizes and\n"
     "labels, and the memory the run needs. Prints the graph with its shapes and\n"
     "parameter counts. Exits 0 only if `graphrun train CONFIG` would start.\n",
     "--set", 1, 1},
    {"summary",
     "usage: graphrun summary CONFIG [--set PATH=VALUE]...\n"
     "\n"
     "The graph as a table: each node's op, output shape (one sample),\n"
     "parameters and forward operations per sample, with totals and the memory\n"
     "the run plans to hold.\n",
     "--set", 1, 1},
    {"graph",
     "usage: graphrun graph CONFIG [--set PATH=VALUE]... [--backward] [-o FILE]\n"
     "\n"
     "Write the forward graph in Graphviz DOT to standard output or FILE: inputs\n"
     "as boxes, parameters as grey ellipses, every node with its op and shape.\n"
     "With --backward, the gradients too (dashed, red): d(node) for every node a\n"
     "gradient reaches, flowing from the loss back to the parameters.\n"
     "Render it with: dot -Tpng graph.dot -o graph.png\n",
     "--set --backward -o", 1, 1},
    {"eval",
     "usage: graphrun eval CONFIG --checkpoint CKPT [--set PATH=VALUE]... [--threads N]\n"
     "                     [--predictions FILE]\n"
     "\n"
     "Load CKPT into CONFIG's graph and evaluate the whole test set: accuracy,\n"
     "each class's precision and recall, and the confusion matrix. With\n"
     "--predictions, also write one CSV row per test image to FILE:\n"
     "index,label,predicted,probability (the predicted class's).\n",
     "--set --checkpoint --threads --predictions", 1, 1},
    {"predict",
     "usage: graphrun predict CONFIG --checkpoint CKPT IMAGE... [--json] [--set PATH=VALUE]...\n"
     "\n"
     "Classify images with CKPT's weights: each IMAGE is a PNG (converted to\n"
     "8-bit gray) or PGM file of the training images' size (28x28 for MNIST:\n"
     "a light digit on a dark background, as in the data). Prints the predicted\n"
     "class and every class's probability, or, with --json, one JSON array.\n",
     "--set --checkpoint --json --threads", 2, 100000},
    {"plot",
     "usage: graphrun plot RUN_DIR\n"
     "\n"
     "Redraw RUN_DIR/plot.png from RUN_DIR/metrics.csv (training loss above,\n"
     "evaluation accuracy below) with gnuplot.\n",
     "", 1, 1},
    {"ops",
     "usage: graphrun ops [NAME] [--plugin FILE]...\n"
     "\n"
     "Without NAME, list every op: built-in ones, those of the plugins in\n"
     "GRAPHRUN_PLUGIN_PATH and those of the --plugin files, with their inputs,\n"
     "attributes (type, default, range) and origin. With NAME, describe that op.\n",
     "--plugin", 0, 1},
    {"gradcheck",
     "usage: graphrun gradcheck CONFIG [--set PATH=VALUE]... [--batch N] [--seed N]\n"
     "\n"
     "Build CONFIG's graph (its plugins included) at batch N (default 2) and check\n"
     "every op node's backward against central finite differences of its\n"
     "forward (h = 1e-2), with parameters drawn from their initializers and\n"
     "other inputs at random: |analytic - numeric| <= atol + 2e-3 |g| for every\n"
     "checked element (at most 400 an input), where atol is 2e-4, or the float\n"
     "forward's rounding floor when larger (the 'noise' column). Needs no data.\n"
     "Exits 0 only if every node passes.\n",
     "--set --batch --seed", 1, 1},
    {"bench",
     "usage: graphrun bench CONFIG [--set PATH=VALUE]... [--epochs N] [--batch N] [--threads N]\n"
     "                     [--eval-repeats N] [--json]\n"
     "\n"
     "Train the model CONFIG declares for whole epochs without the periodic\n"
     "evaluation, timing each epoch, then time evaluation of the whole test set\n"
     "(the median of --eval-repeats runs). Reports time per epoch and per step,\n"
     "GFLOP/s (operations counted from the graph), test accuracy and peak RSS.\n",
     "--set --epochs --batch --threads --eval-repeats --json", 1, 1},
};

/* ---- options ---------------------------------------------------------------- */

#define MAX_SETS 64

struct cli {
    const struct command *cmd;
    const char *pos[4096];
    int n_pos;
    const char *sets[MAX_SETS];
    int n_sets;
    const char *plugins[32];
    int n_plugins;
    int threads, batch, seed, epochs, eval_repeats;
    const char *checkpoint, *resume, *run_dir, *output, *predictions;
    int no_run_dir, quiet, json, backward;
};

static int takes(const struct command *c, const char *opt) {
    size_t n = strlen(opt);
    for (const char *p = c->options; (p = strstr(p, opt)); p += n)
        if ((p == c->options || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
    return 0;
}

/* Decimal digits (an optional sign) within [lo, hi]; the same rule as the
 * config's integers. */
static int parse_int(const char *s, int lo, int hi, int *out) {
    const char *p = s + (*s == '-' || *s == '+');
    if (!*p || strspn(p, "0123456789") != strlen(p)) return -1;
    errno = 0;
    long v = strtol(s, NULL, 10);
    if (errno == ERANGE || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

/* "unknown option '--thread'" with the closest of the command's options, or
 * the commands that take it when this one does not. */
static void unknown_option(const struct command *c, const char *opt) {
    const char *names[16];
    char buf[256];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", c->options);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && n < 16; t = strtok_r(NULL, " ", &save))
        names[n++] = t;
    const char *near = gr_closest(opt, names, n);
    if (near) {
        fprintf(stderr, "graphrun %s: unknown option '%s' (did you mean '%s'?)\n", c->name, opt, near);
        return;
    }
    char others[256] = "";
    size_t used = 0;
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (takes(&commands[k], opt))
            used += (size_t)snprintf(others + used, sizeof others - used, "%s%s", used ? ", " : "", commands[k].name);
    if (used)
        fprintf(stderr, "graphrun %s: %s is an option of %s, not of %s (see graphrun %s --help)\n", c->name, opt, others,
                c->name, c->name);
    else
        fprintf(stderr, "graphrun %s: unknown option '%s' (see graphrun %s --help)\n", c->name, opt, c->name);
}

/* Returns 0 to run, 1 after printing help, 2 on a usage error. */
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
                fprintf(stderr, "graphrun %s: unexpected argument '%s' (see graphrun %s --help)\n", c->name, a, c->name);
                return 2;
            }
            o->pos[o->n_pos++] = a;
            continue;
        }
        if (!takes(c, a)) {
            unknown_option(c, a);
            return 2;
        }
        /* flags */
        if (!strcmp(a, "--no-run-dir")) { o->no_run_dir = 1; continue; }
        if (!strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        if (!strcmp(a, "--json")) { o->json = 1; continue; }
        if (!strcmp(a, "--backward")) { o->backward = 1; continue; }
        /* options with a value */
        if (i + 1 >= argc) {
            fprintf(stderr, "graphrun %s: %s needs a value (see graphrun %s --help)\n", c->name, a, c->name);
            return 2;
        }
        const char *v = argv[++i];
        int *num = NULL, lo = 1, hi = 1 << 20;
        if (!strcmp(a, "--set")) {
            if (o->n_sets == MAX_SETS) {
                fprintf(stderr, "graphrun %s: at most %d --set\n", c->name, MAX_SETS);
                return 2;
            }
            o->sets[o->n_sets++] = v;
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
            fprintf(stderr, "graphrun %s: %s: expected an integer in [%d, %d], got '%s'\n", c->name, a, lo, hi, v);
            return 2;
        }
    }
    if (o->n_pos < c->positional_min) {
        fprintf(stderr, "graphrun %s: missing %s (see graphrun %s --help)\n", c->name,
                !strcmp(c->name, "plot") ? "RUN_DIR" : o->n_pos == 0 ? "CONFIG" : "IMAGE", c->name);
        return 2;
    }
    if (takes(c, "--checkpoint") && !o->checkpoint) {
        fprintf(stderr, "graphrun %s: --checkpoint CKPT is required (see graphrun %s --help)\n", c->name, c->name);
        return 2;
    }
    return 0;
}

/* ---- shared set-up ---------------------------------------------------------- */

/* The one piece of global state: set by the signal handler, read by the
 * training loop through ctx.interrupt. */
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

/* A context with the plugins of GRAPHRUN_PLUGIN_PATH loaded. */
static int open_ctx(struct gr_ctx *ctx) {
    if (gr_ctx_init(ctx)) {
        fprintf(stderr, "graphrun: %s\n", ctx->err);
        return -1;
    }
    ctx->plugin_activity = &g_plugin_activity;
    if (gr_plugin_load_path(ctx, getenv("GRAPHRUN_PLUGIN_PATH"))) {
        fprintf(stderr, "%s\n", ctx->err);
        gr_ctx_free(ctx);
        return -1;
    }
    return 0;
}

/* Context, config (with --set) and, if `session`, everything up to the first
 * step, with the checkpoint loaded when one is given. Prints the error. */
struct job {
    struct gr_ctx ctx;
    struct gr_config cfg;
    struct gr_session s;
    int have_ctx, have_cfg, have_session;
    int64_t ckpt_step;
};

static void close_job(struct job *j) {
    if (j->have_session) gr_session_close(&j->s);
    if (j->have_cfg) gr_config_free(&j->ctx, &j->cfg);
    if (j->have_ctx) gr_ctx_free(&j->ctx);
    memset(j, 0, sizeof *j);
}

/* What a command's session reads and holds: check and summary lay the run
 * out without holding it; eval needs the test set and the weights, predict
 * the weights alone. */
static enum gr_session_mode job_mode(const struct command *c) {
    if (!strcmp(c->name, "check") || !strcmp(c->name, "summary")) return GR_SESSION_CHECK;
    if (!strcmp(c->name, "eval")) return GR_SESSION_EVAL;
    if (!strcmp(c->name, "predict")) return GR_SESSION_PREDICT;
    return GR_SESSION_TRAIN;
}

static int open_job(struct job *j, const struct cli *o, int session) {
    memset(j, 0, sizeof *j);
    if (open_ctx(&j->ctx)) return -1;
    j->have_ctx = 1;
    int rc = gr_config_load_ex(&j->ctx, &j->cfg, o->pos[0], o->sets, o->n_sets);
    j->have_cfg = 1;
    if (rc == 0 && session) {
        struct gr_train_opts opts = {.threads = o->threads, .out = NULL, .mode = job_mode(o->cmd)};
        rc = gr_session_open(&j->ctx, &j->s, &j->cfg, &opts);
        j->have_session = 1;
        if (rc == 0 && o->checkpoint) rc = gr_checkpoint_load(&j->s, o->checkpoint, &j->ckpt_step);
        if (rc == 0 && j->s.logits < 0 && (takes(o->cmd, "--checkpoint")))
            rc = gr_fail(&j->ctx, "%s: %s needs an eval section naming the logits node", o->pos[0], o->cmd->name);
    }
    if (rc) {
        fprintf(stderr, "%s\n", j->ctx.err);
        close_job(j);
        return -1;
    }
    return 0;
}

/* The job's config's graph at `batch`, after its plugins are loaded (the
 * graph is initialised either way; free it with gr_graph_free). */
static int job_graph(struct job *j, struct gr_graph *g, int64_t batch) {
    gr_graph_init(g, &j->ctx, j->cfg.path);
    int rc = gr_config_load_plugins(&j->ctx, &j->cfg);
    return rc ? rc : gr_build_graph(&j->ctx, g, j->cfg.path, j->cfg.graph, batch);
}

static const char *base_name(const char *path, char *buf, size_t len) {
    const char *b = strrchr(path, '/');
    snprintf(buf, len, "%s", b ? b + 1 : path);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = 0;
    return buf;
}

/* ---- train ------------------------------------------------------------------ */

static int cmd_train(struct cli *o) {
    struct job j;
    if (open_job(&j, o, 0)) return 1;
    /* the run folder: given, the resumed checkpoint's, or a new dated one */
    char run_dir[4096] = "";
    if (o->run_dir) {
        snprintf(run_dir, sizeof run_dir, "%s", o->run_dir);
    } else if (!o->no_run_dir && o->resume) {
        char probe[4200];
        snprintf(run_dir, sizeof run_dir, "%s", o->resume);
        char *slash = strrchr(run_dir, '/');
        if (slash) *slash = 0;
        else snprintf(run_dir, sizeof run_dir, ".");
        snprintf(probe, sizeof probe, "%s/metrics.csv", run_dir);
        struct stat st;
        if (stat(probe, &st) != 0) run_dir[0] = 0;
    }
    /* a dated name is made new when the run starts: two runs started in
     * the same second get <name>-2, -3, ... */
    int dated = !run_dir[0] && !o->no_run_dir;
    if (dated) {
        char stem[256], when[64];
        time_t t = time(NULL);
        strftime(when, sizeof when, "%Y%m%d-%H%M%S", localtime(&t));
        snprintf(run_dir, sizeof run_dir, "runs/%s-%s", base_name(o->pos[0], stem, sizeof stem), when);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    j.ctx.interrupt = &g_interrupt;
    struct gr_train_opts opts = {
        .threads = o->threads,
        .out = stdout,
        .resume = o->resume,
        .run_dir = run_dir[0] ? run_dir : NULL,
        .new_run_dir = dated,
        .progress = isatty(STDOUT_FILENO),
        .quiet = o->quiet,
        .show_config = 1,
    };
    struct gr_train_result res;
    int rc = gr_train(&j.ctx, &j.cfg, &opts, &res);
    if (rc) fprintf(stderr, "%s\n", j.ctx.err);
    /* the folder this run wrote (none if it stopped before taking one) */
    const char *dir = res.run_dir;
    if (dir[0] && (rc == 0 || res.steps > 0)) {
        char err[512];
        /* after a failed run, its error stays the one line on stderr */
        int plotted = plot_run(dir, err, sizeof err);
        if (plotted < 0 && rc == 0) fprintf(stderr, "graphrun train: no plot: %s\n", err);
        else if (plotted > 0)
            printf("run folder: %s (metrics.csv, metrics.jsonl, config.yaml; no plot: no metrics rows yet)\n", dir);
        else if (plotted == 0) printf("run folder: %s (plot.png, metrics.csv, metrics.jsonl, config.yaml)\n", dir);
    }
    close_job(&j);
    if (rc) return 1;
    return res.interrupted ? 128 + (int)g_interrupt : 0;
}

/* ---- check and summary ------------------------------------------------------ */

static int64_t node_params(const struct gr_graph *g, const struct gr_node *nd) {
    int64_t p = (nd->op->flags & GR_OP_PARAM) ? gr_shape_count(&nd->shape) : 0;
    for (int k = nd->n_user; k < nd->n_in; k++) p += gr_shape_count(&g->nodes[nd->in[k]].shape);
    return p;
}

/* a node's own shape without its batch axis (parameters have none) */
static const char *sample_shape(const struct gr_node *nd, char *buf, size_t len) {
    struct gr_shape s = nd->shape;
    if (!(nd->op->flags & GR_OP_PARAM) && s.rank > 0) {
        for (int d = 1; d < s.rank; d++) s.dim[d - 1] = s.dim[d];
        s.rank--;
    }
    return gr_shape_format(&s, buf, len);
}

static int cmd_check(struct cli *o) {
    struct job j;
    if (open_job(&j, o, 1)) return 1;
    char sh[96];
    printf("%s: valid; training would start\n", o->pos[0]);
    printf("  data: %lld training and %lld test samples\n", (long long)j.s.train.n, (long long)j.s.test.n);
    printf("  %-20s %-22s %-18s %12s\n", "node", "op", "shape", "parameters");
    int64_t total = 0;
    for (int i = 0; i < j.s.g.n; i++) {
        const struct gr_node *nd = &j.s.g.nodes[i];
        if (nd->op->flags & GR_OP_PARAM && nd->owner >= 0) continue;
        int64_t params = node_params(&j.s.g, nd);
        total += params;
        printf("  %-20s %-22s %-18s %12lld\n", nd->name, nd->op->name, gr_shape_format(&nd->shape, sh, sizeof sh),
               (long long)params);
    }
    printf("  %-20s %-22s %-18s %12lld\n", "total", "", "", (long long)total);
    printf("  memory: training plan %.1f MB at batch %lld, evaluation plan %.1f MB at batch %lld\n",
           (double)j.s.tp.arena_bytes / 1e6, (long long)j.s.tp.cap,
           j.s.logits >= 0 ? (double)j.s.ep.arena_bytes / 1e6 : 0.0, (long long)(j.s.logits >= 0 ? j.s.ep.cap : 0));
    close_job(&j);
    return 0;
}

static void print_count(int64_t n, int width) {
    char buf[32], out[48];
    snprintf(buf, sizeof buf, "%lld", (long long)n);
    int len = (int)strlen(buf), k = 0;
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0) out[k++] = ',';
        out[k++] = buf[i];
    }
    out[k] = 0;
    printf("%*s", width, out);
}

static int cmd_summary(struct cli *o) {
    struct job j;
    if (open_job(&j, o, 1)) return 1;
    const struct gr_graph *g = &j.s.g;
    double batch = (double)j.s.tp.cap;
    printf("%s\n", o->pos[0]);
    printf("%-16s %-22s %-16s %12s %16s\n", "node", "op", "output (sample)", "parameters", "FLOPs/sample");
    int64_t total = 0;
    double ftotal = 0, btotal = 0;
    char sh[96];
    for (int i = 0; i < g->n; i++) {
        const struct gr_node *nd = &g->nodes[i];
        if (nd->op->flags & GR_OP_PARAM && nd->owner >= 0) continue;
        int64_t params = node_params(g, nd);
        double f = 0, b = 0;
        gr_plan_node_flops(&j.s.tp, i, &f, &b);
        total += params;
        ftotal += f;
        btotal += b;
        printf("%-16s %-22s %-16s ", nd->name, nd->op->name, sample_shape(nd, sh, sizeof sh));
        print_count(params, 12);
        print_count((int64_t)llround(f / batch), 17);
        printf("\n");
    }
    printf("%-16s %-22s %-16s ", "total", "", "");
    print_count(total, 12);
    print_count((int64_t)llround(ftotal / batch), 17);
    printf("\n\n");
    printf("training: %.2f MFLOP a sample forward and backward, %.1f GFLOP an epoch of %lld samples\n",
           (ftotal + btotal) / batch / 1e6, (ftotal + btotal) / batch * (double)j.s.train.n / 1e9,
           (long long)j.s.train.n);
    double pbytes = (double)g->n_weights * 4;
    printf("memory:   parameters %.1f KB (with gradients and %s state %.1f KB)\n", pbytes / 1e3,
           j.cfg.optim.desc->title, pbytes * (2 + j.cfg.optim.desc->n_state) / 1e3);
    printf("          training plan %.1f MB at batch %lld, evaluation plan %.1f MB at batch %lld\n",
           (double)j.s.tp.arena_bytes / 1e6, (long long)j.s.tp.cap,
           j.s.logits >= 0 ? (double)j.s.ep.arena_bytes / 1e6 : 0.0, (long long)(j.s.logits >= 0 ? j.s.ep.cap : 0));
    printf("          data %.1f MB (images kept as bytes)\n",
           (double)(j.s.train.images.bytes + j.s.train.labels.bytes + j.s.test.images.bytes + j.s.test.labels.bytes) /
               1e6);
    close_job(&j);
    return 0;
}

/* ---- graph (DOT) ------------------------------------------------------------ */

/* One DOT statement `  "ID" [ATTRS, label="LABEL"];` (no label if NULL),
 * the ID and label escaped; -1 if a write failed. */
static int dot_node(FILE *f, const char *id, const char *attrs, const char *label) {
    if (fputs("  ", f) == EOF || gr_put_dot_string(f, id) == EOF || fprintf(f, " [%s", attrs) < 0) return -1;
    if (label && (fputs(", label=", f) == EOF || gr_put_dot_string(f, label) == EOF)) return -1;
    return fputs("];\n", f) == EOF ? -1 : 0;
}

static int dot_edge(FILE *f, const char *from, const char *to, const char *attrs) {
    if (fputs("  ", f) == EOF || gr_put_dot_string(f, from) == EOF || fputs(" -> ", f) == EOF ||
        gr_put_dot_string(f, to) == EOF)
        return -1;
    return fprintf(f, "%s%s;\n", attrs ? " " : "", attrs ? attrs : "") < 0 ? -1 : 0;
}

/* The graph in DOT; `p` is its plan when the gradients are drawn. -1 if a
 * write failed (errno says why). */
static int write_dot(FILE *f, const struct gr_graph *g, const struct gr_plan *p, int loss, const char *source) {
    char label[512], sh[96], a[160], b[160];
    if (fputs("// graphrun graph ", f) == EOF || gr_put_text(f, source) == EOF ||
        fprintf(f, "%s\ndigraph graphrun {\n", p ? " --backward" : "") < 0 ||
        fprintf(f, "  rankdir=TB;\n  node [fontname=\"sans\", fontsize=10];\n  edge [color=\"#555555\"];\n") < 0)
        return -1;
    for (int i = 0; i < g->n; i++) {
        const struct gr_node *nd = &g->nodes[i];
        const char *style = nd->op->flags & GR_OP_PARAM   ? "shape=ellipse, style=filled, fillcolor=\"#e8e8e8\""
                            : nd->op->flags & GR_OP_INPUT ? "shape=box, style=\"rounded,filled\", fillcolor=\"#d8e8f8\""
                                                          : "shape=box";
        snprintf(label, sizeof label, "%s\n%s\n%s", nd->name, nd->op->name, gr_shape_format(&nd->shape, sh, sizeof sh));
        if (dot_node(f, nd->name, style, label)) return -1;
    }
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (dot_edge(f, g->nodes[g->nodes[i].in[k]].name, g->nodes[i].name, NULL)) return -1;
    /* d(x) for every node with a gradient; edges run from a node's gradient
     * to its inputs' gradients, as backward computes them */
    for (int i = 0; p && i < g->n; i++) {
        if (!p->bwd[i]) continue;
        snprintf(a, sizeof a, "d:%s", g->nodes[i].name);
        snprintf(label, sizeof label, "d %s%s", g->nodes[i].name, i == loss ? " = 1" : "");
        if (dot_node(f, a, "shape=box, style=dashed, color=\"#d62728\", fontcolor=\"#d62728\"", label)) return -1;
    }
    for (int i = 0; p && i < g->n; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            if (!p->bwd[i] || !p->args[i].din[k]) continue;
            snprintf(a, sizeof a, "d:%s", g->nodes[i].name);
            snprintf(b, sizeof b, "d:%s", g->nodes[g->nodes[i].in[k]].name);
            if (dot_edge(f, a, b, "[color=\"#d62728\", style=dashed]")) return -1;
        }
    return fputs("}\n", f) == EOF ? -1 : 0;
}

static int cmd_graph(struct cli *o) {
    struct job j;
    if (open_job(&j, o, 0)) return 1;
    struct gr_graph g;
    int rc = job_graph(&j, &g, j.cfg.batch_size);
    int loss = rc == 0 ? gr_graph_find(&g, j.cfg.loss) : -1;
    struct gr_plan p;
    memset(&p, 0, sizeof p);
    if (rc == 0 && o->backward) {
        if (loss < 0) rc = gr_fail(&j.ctx, "%s: train.loss names no node", j.cfg.path);
        else if (gr_graph_alloc_params(&g) || gr_plan_init(&p, &g, 1, &loss, 1, loss)) rc = -1;
    }
    FILE *f = stdout;
    if (rc == 0 && o->output && !(f = fopen(o->output, "w")))
        rc = gr_fail(&j.ctx, "%s: cannot write: %s", o->output, strerror(errno));
    if (rc == 0) {
        /* a write error is reported with the first errno; fclose's is the last word */
        int failed = write_dot(f, &g, o->backward ? &p : NULL, loss, o->pos[0]);
        int e = errno;
        if (f != stdout && fclose(f) != 0 && !failed) failed = 1, e = errno;
        if (failed && f != stdout)
            rc = gr_fail(&j.ctx, "%s: write failed: %s", o->output, strerror(e));
        else if (failed)
            rc = gr_fail(&j.ctx, "graphrun graph: cannot write the standard output: %s", strerror(e));
    }
    if (rc) fprintf(stderr, "%s\n", j.ctx.err);
    gr_plan_free(&p);
    gr_graph_free(&g);
    close_job(&j);
    return rc ? 1 : 0;
}

/* ---- eval and predict ------------------------------------------------------- */

/* errno after a failed write (EIO if the C library left it unset) */
static int write_errno(void) { return errno ? errno : EIO; }

static int cmd_eval(struct cli *o) {
    struct job j;
    if (open_job(&j, o, 1)) return 1;
    struct gr_session *s = &j.s;
    int64_t n = s->test.n, c = s->g.nodes[s->logits].shape.dim[1];
    size_t n_probs = 0, n_conf = 0;
    int sizes_ok = !gr_mul_size((size_t)n, (size_t)c, &n_probs) && !gr_mul_size((size_t)c, (size_t)c, &n_conf);
    float *probs = sizes_ok ? malloc(n_probs * sizeof *probs) : NULL;
    int64_t *conf = sizes_ok ? calloc(n_conf, sizeof *conf) : NULL;
    if (!probs || !conf || gr_session_predict(s, s->test.images.data, n, probs)) {
        fprintf(stderr, "graphrun eval: %s\n", probs && conf ? j.ctx.err : "out of memory");
        free(probs);
        free(conf);
        close_job(&j);
        return 1;
    }
    FILE *pf = NULL;
    if (o->predictions && !(pf = fopen(o->predictions, "w"))) {
        fprintf(stderr, "graphrun eval: cannot write %s: %s\n", o->predictions, strerror(errno));
        free(probs);
        free(conf);
        close_job(&j);
        return 1;
    }
    /* every field is a number: nothing to quote. The first failed write's
     * errno is the one reported. */
    int werr = pf && fprintf(pf, "index,label,predicted,probability\n") < 0 ? write_errno() : 0;
    int64_t correct = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        for (int64_t k = 1; k < c; k++)
            if (probs[i * c + k] > probs[i * c + best]) best = k;
        int64_t truth = s->test.labels.data[i];
        conf[truth * c + best]++;
        correct += best == truth;
        if (pf && !werr && fprintf(pf, "%lld,%lld,%lld,%.6f\n", (long long)i, (long long)truth, (long long)best,
                                   (double)probs[i * c + best]) < 0)
            werr = write_errno();
    }
    if (pf && fclose(pf) != 0 && !werr) werr = write_errno();
    if (werr) {
        fprintf(stderr, "graphrun eval: %s: write failed: %s\n", o->predictions, strerror(werr));
        free(probs);
        free(conf);
        close_job(&j);
        return 1;
    }
    printf("%s, checkpoint %s (step %lld)\n", o->pos[0], o->checkpoint, (long long)j.ckpt_step);
    printf("accuracy: %.4f (%lld of %lld test images)\n\n", (double)correct / (double)n, (long long)correct,
           (long long)n);
    printf("class  precision  recall  support\n");
    for (int64_t k = 0; k < c; k++) {
        int64_t tp = conf[k * c + k], pred = 0, truth = 0;
        for (int64_t r = 0; r < c; r++) {
            pred += conf[r * c + k];
            truth += conf[k * c + r];
        }
        printf("%5lld  %9.4f  %6.4f  %7lld\n", (long long)k, pred ? (double)tp / (double)pred : 0.0,
               truth ? (double)tp / (double)truth : 0.0, (long long)truth);
    }
    printf("\nconfusion matrix (rows: true class, columns: predicted)\n      ");
    for (int64_t k = 0; k < c; k++) printf("%6lld", (long long)k);
    printf("\n");
    for (int64_t r = 0; r < c; r++) {
        printf("%6lld", (long long)r);
        for (int64_t k = 0; k < c; k++) printf("%6lld", (long long)conf[r * c + k]);
        printf("\n");
    }
    free(probs);
    free(conf);
    close_job(&j);
    return 0;
}

static int cmd_predict(struct cli *o) {
    struct job j;
    if (open_job(&j, o, 1)) return 1;
    struct gr_session *s = &j.s;
    int n = o->n_pos - 1;
    /* an image as the graph's image input reads it: [..., H, W] exactly; a
     * flat [N] a square image when N is a square, else any N pixels */
    struct gr_shape img = gr_session_image_shape(s);
    int64_t size = gr_shape_count(&img), c = s->g.nodes[s->logits].shape.dim[1], want_h = 0, want_w = 0;
    if (img.rank >= 2) {
        want_h = img.dim[img.rank - 2];
        want_w = img.dim[img.rank - 1];
    } else {
        int64_t side = llround(sqrt((double)size));
        if (side * side == size) want_h = want_w = side;
    }
    uint8_t *all = malloc((size_t)(n * size));
    float *probs = malloc((size_t)(n * c) * sizeof *probs);
    int rc = all && probs ? 0 : 1;
    if (rc == 0 && img.rank == 0) {
        fprintf(stderr, "graphrun predict: %s: the graph has no image input\n", o->pos[0]);
        rc = 1;
    }
    for (int i = 0; i < n && rc == 0; i++) {
        uint8_t *px = NULL;
        int w, h;
        char err[512];
        if (image_read_gray(o->pos[1 + i], &px, &w, &h, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            rc = 1;
        } else if ((int64_t)w * h != size || (want_h && (h != want_h || w != want_w))) {
            if (want_h)
                fprintf(stderr, "%s: %dx%d pixels, but the model reads %lldx%lld images\n", o->pos[1 + i], w, h,
                        (long long)want_w, (long long)want_h);
            else
                fprintf(stderr, "%s: %dx%d pixels, but the model reads images of %lld pixels\n", o->pos[1 + i], w, h,
                        (long long)size);
            rc = 1;
        } else {
            memcpy(all + (size_t)i * (size_t)size, px, (size_t)size);
        }
        free(px);
    }
    if (rc == 0 && gr_session_predict(s, all, n, probs)) {
        fprintf(stderr, "%s\n", j.ctx.err);
        rc = 1;
    }
    if (rc == 0) {
        if (o->json) printf("[\n");
        for (int i = 0; i < n; i++) {
            const float *p = probs + (size_t)i * (size_t)c;
            int64_t best = 0;
            for (int64_t k = 1; k < c; k++)
                if (p[k] > p[best]) best = k;
            if (o->json) {
                printf("  {\"image\": ");
                gr_put_json_string(stdout, o->pos[1 + i]);
                printf(", \"class\": %lld, \"probabilities\": [", (long long)best);
                /* JSON has no NaN: a non-finite probability (weights that
                 * are not finite) is null */
                for (int64_t k = 0; k < c; k++) {
                    if (isfinite(p[k])) printf("%s%.8g", k ? ", " : "", (double)p[k]);
                    else printf("%snull", k ? ", " : "");
                }
                printf("]}%s\n", i + 1 < n ? "," : "");
            } else {
                printf("%s: %lld (%.4f)   ", o->pos[1 + i], (long long)best, (double)p[best]);
                for (int64_t k = 0; k < c; k++) printf("%s%lld:%.4f", k ? " " : "", (long long)k, (double)p[k]);
                printf("\n");
            }
        }
        if (o->json) printf("]\n");
    }
    free(all);
    free(probs);
    close_job(&j);
    return rc;
}

/* ---- plot, ops, gradcheck ----------------------------------------------------- */

static int cmd_plot(struct cli *o) {
    char err[512];
    if (plot_run(o->pos[0], err, sizeof err) != 0) {
        fprintf(stderr, "graphrun plot: %s\n", err);
        return 1;
    }
    printf("%s/plot.png\n", o->pos[0]);
    return 0;
}

static const char *const type_names[] = {"int", "float", "bool", "string", "list of ints"};

/* "num_units (int, required, 1..1048576)" */
static void print_attr(const struct gr_attr_spec *a, int long_form) {
    printf("%s (%s", a->name, type_names[a->type]);
    if (a->def) printf(", default %s", a->def);
    else if (a->optional) printf(", optional");
    else printf(", required");
    if ((a->min != 0 || a->max != 0) && a->type != GR_ATTR_STRING)
        printf(a->type == GR_ATTR_FLOAT ? ", %g..%g" : ", %.0f..%.0f", a->min, a->max);
    if (a->choices) {
        printf(", one of");
        for (int c = 0; a->choices[c]; c++) printf("%s %s", c ? "," : "", a->choices[c]);
    }
    printf(")");
    if (long_form && a->doc) printf(": %s", a->doc);
}

static void print_op(const struct gr_op_entry *e, int long_form) {
    const struct gr_op_desc *d = e->desc;
    printf("%s  (%s)\n    %s\n", d->name, e->origin, d->summary);
    if (d->max_inputs > 0) printf("    inputs: %s\n", d->inputs_doc);
    if (d->n_attrs) {
        printf("    attributes:%s", long_form ? "\n" : " ");
        for (int a = 0; a < d->n_attrs; a++) {
            if (long_form) printf("      ");
            else if (a) printf(", ");
            print_attr(&d->attrs[a], long_form);
            if (long_form) printf("\n");
        }
        if (!long_form) printf("\n");
    }
    if (d->n_params) {
        printf("    parameters:%s", long_form ? "\n" : " ");
        for (int k = 0; k < d->n_params; k++) {
            if (long_form)
                printf("      %s, initialised %s: %s\n", d->params[k].name, gr_init_names[d->params[k].init],
                       d->params[k].doc);
            else
                printf("%s%s (%s)", k ? ", " : "", d->params[k].name, gr_init_names[d->params[k].init]);
        }
        if (!long_form) printf("\n");
    }
    if (long_form) {
        if (d->no_grad) {
            printf("    inputs taking no gradient:");
            for (int k = 0; k < 32; k++)
                if ((d->no_grad >> k) & 1u) printf(" %d", k);
            printf("\n");
        }
        printf("    differentiable: %s; counts its operations: %s\n", d->backward ? "yes" : "no",
               d->flops ? "yes" : "no");
    }
}

static int cmd_ops(struct cli *o) {
    struct gr_ctx ctx;
    if (open_ctx(&ctx)) return 1;
    int rc = 0;
    for (int i = 0; i < o->n_plugins && rc == 0; i++)
        if (gr_plugin_load(&ctx, o->plugins[i])) {
            fprintf(stderr, "%s\n", ctx.err);
            rc = 1;
        }
    if (rc == 0 && o->n_pos) {
        const struct gr_op_entry *e = gr_registry_entry(ctx.reg, o->pos[0]);
        if (e) {
            print_op(e, 1);
        } else {
            const char *near = gr_registry_suggest(ctx.reg, o->pos[0]);
            fprintf(stderr, "graphrun ops: no op '%s'%s%s%s\n", o->pos[0], near ? " (did you mean '" : "",
                    near ? near : "", near ? "'?)" : "");
            rc = 1;
        }
    } else if (rc == 0) {
        for (int i = 0; i < ctx.reg->n; i++) {
            print_op(&ctx.reg->ops[i], 0);
            printf("\n");
        }
        printf("%d ops\n", ctx.reg->n);
    }
    gr_ctx_free(&ctx);
    return rc;
}

static int cmd_gradcheck(struct cli *o) {
    struct job j;
    if (open_job(&j, o, 0)) return 1;
    struct gr_graph g;
    int rc = job_graph(&j, &g, o->batch ? o->batch : 2);
    int failed = 0, checked = 0;
    if (rc == 0) {
        printf("%-20s %-22s %10s %12s %10s  %s\n", "node", "op", "elements", "worst/bound", "noise", "result");
        struct gr_rng rng;
        gr_rng_seed(&rng, (uint64_t)o->seed);
        for (int i = 0; i < g.n && rc == 0; i++) {
            const struct gr_node *nd = &g.nodes[i];
            if (nd->op->flags & (GR_OP_INPUT | GR_OP_PARAM)) continue;
            if (!nd->op->backward) {
                printf("%-20s %-22s %10s %12s %10s  no backward\n", nd->name, nd->op->name, "-", "-", "-");
                continue;
            }
            struct gr_gradcheck gc = {.h = 1e-2, .atol = 2e-4, .rtol = 2e-3, .max_elems = 400};
            int r = gr_gradcheck_node(&g, i, &rng, &gc);
            if (r < 0) {
                rc = -1;
                break;
            }
            checked++;
            failed += r != 0;
            printf("%-20s %-22s %10d %12.3f %10.1e  %s\n", nd->name, nd->op->name, gc.checked, gc.worst, gc.noise,
                   r ? "FAIL" : "ok");
            if (r) printf("    %s\n", gc.report);
        }
    }
    if (rc) fprintf(stderr, "%s\n", j.ctx.err);
    else printf("%d node%s checked, %d failed\n", checked, checked == 1 ? "" : "s", failed);
    gr_graph_free(&g);
    close_job(&j);
    return rc ? 1 : failed ? 1 : 0;
}

/* ---- bench ------------------------------------------------------------------ */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int cmd_bench(struct cli *o) {
    struct gr_ctx ctx;
    if (open_ctx(&ctx)) return 1;
    struct gr_config cfg;
    struct gr_session s;
    memset(&s, 0, sizeof s);
    int rc = gr_config_load_ex(&ctx, &cfg, o->pos[0], o->sets, o->n_sets);
    if (rc == 0 && !cfg.has_eval) rc = gr_fail(&ctx, "%s: bench needs an eval section (its logits node)", o->pos[0]);
    if (rc == 0) {
        if (o->batch) cfg.batch_size = o->batch;
        cfg.steps = 0;
        cfg.epochs = o->epochs;
        struct gr_train_opts opts = {.threads = o->threads, .out = NULL};
        rc = gr_session_open(&ctx, &s, &cfg, &opts);
    }
    if (rc) {
        fprintf(stderr, "%s\n", ctx.err);
        gr_session_close(&s);
        gr_config_free(&ctx, &cfg);
        gr_ctx_free(&ctx);
        return 1;
    }
    int64_t per_epoch = (s.train.n + cfg.batch_size - 1) / cfg.batch_size;
    double epoch_s[1000], eval_s[100], fwd, bwd, efwd, ebwd, acc = 0;
    gr_plan_flops(&s.tp, &fwd, &bwd);
    int threads = gr_pool_threads(ctx.pool);
    printf("graphrun bench: %s, batch %lld, %d thread%s, %lld steps an epoch\n", o->pos[0], (long long)cfg.batch_size,
           threads, threads == 1 ? "" : "s", (long long)per_epoch);
    for (int e = 0; e < o->epochs; e++) {
        double t0 = now_seconds();
        for (int64_t k = 0; k < per_epoch; k++) gr_session_step(&s);
        epoch_s[e] = now_seconds() - t0;
        printf("  epoch %d: %.3f s, %.3f ms a step, %.1f GFLOP/s\n", e + 1, epoch_s[e],
               1e3 * epoch_s[e] / (double)per_epoch, (fwd + bwd) * (double)per_epoch / epoch_s[e] / 1e9);
    }
    for (int r = 0; r < o->eval_repeats; r++) {
        double t0 = now_seconds();
        acc = gr_session_accuracy(&s, s.test.n);
        eval_s[r] = now_seconds() - t0;
    }
    /* forward operations for the whole test set, from the plan at its capacity */
    gr_plan_set_batch(&s.ep, s.ep.cap);
    gr_plan_flops(&s.ep, &efwd, &ebwd);
    double eval_flop = efwd / (double)s.ep.cap * (double)s.test.n;
    double sorted[1000];
    memcpy(sorted, epoch_s, (size_t)o->epochs * sizeof *sorted);
    double epoch_med = median(sorted, o->epochs), eval_med = median(eval_s, o->eval_repeats);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = (double)ru.ru_maxrss / 1024.0, train_gflop = (fwd + bwd) * (double)per_epoch / 1e9;
    printf("  test set: %lld images in %.4f s (median of %d), %.1f GFLOP/s, accuracy %.4f\n", (long long)s.test.n,
           eval_med, o->eval_repeats, eval_flop / eval_med / 1e9, acc);
    printf("  operations: %.1f GFLOP an epoch (%.1f MFLOP a step), %.2f GFLOP for the test set\n", train_gflop,
           (fwd + bwd) / 1e6, eval_flop / 1e9);
    printf("  peak RSS: %.1f MB\n", rss_mb);
    if (o->json) {
        printf("{\"tool\": \"graphrun\", \"batch\": %lld, \"threads\": %d, \"steps_per_epoch\": %lld, \"epoch_seconds\": [",
               (long long)cfg.batch_size, threads, (long long)per_epoch);
        for (int e = 0; e < o->epochs; e++) printf("%s%.4f", e ? ", " : "", epoch_s[e]);
        printf("], \"epoch_median\": %.4f, \"step_ms\": %.4f, \"train_gflop_per_epoch\": %.3f, \"train_gflops\": %.2f, "
               "\"eval_seconds\": %.5f, \"eval_gflops\": %.2f, \"accuracy\": %.4f, \"peak_rss_mb\": %.1f}\n",
               epoch_med, 1e3 * epoch_med / (double)per_epoch, train_gflop, train_gflop / epoch_med, eval_med,
               eval_flop / eval_med / 1e9, acc, rss_mb);
    }
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    return 0;
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

int main(int argc, char **argv) {
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
        printf("graphrun 0.1.0 (plugin ABI %d)\n", GR_ABI_VERSION);
        printf("BLAS: %s (kernels for %s)\n", openblas_get_config(), openblas_get_corename());
        return check_stdout(NULL, 0);
    }
    static int (*const run[])(struct cli *) = {cmd_train, cmd_check,   cmd_summary, cmd_graph,     cmd_eval,
                                               cmd_predict, cmd_plot, cmd_ops,     cmd_gradcheck, cmd_bench};
    _Static_assert(sizeof run / sizeof run[0] == sizeof commands / sizeof commands[0], "one function a command");
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        if (strcmp(name, commands[c].name) != 0) continue;
        struct cli *o = malloc(sizeof *o); /* 33 KB: off the stack */
        if (!o) return 1;
        int p = parse(&commands[c], argc - 2, argv + 2, o);
        int rc = p ? (p == 1 ? 0 : 2) : run[c](o);
        free(o);
        return check_stdout(commands[c].name, rc);
    }
    const char *names[sizeof commands / sizeof commands[0]];
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) names[c] = commands[c].name;
    const char *near = gr_closest(name, names, (int)(sizeof names / sizeof names[0]));
    if (near) fprintf(stderr, "graphrun: unknown command '%s' (did you mean '%s'?)\n", name, near);
    else fprintf(stderr, "graphrun: unknown command '%s' (see graphrun --help)\n", name);
    return 2;
}
