/* graphrun: the command. Only main decides the exit status:
 *   0 success, 1 a user error (config, data), 2 a usage error. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "runtime/config.h"
#include "ops/core.h"
#include "models/builder.h"
#include "runtime/ctx.h"
#include "runtime/harness.h"
#include "runtime/plugin.h"
#include "runtime/registry.h"
#include "runtime/threads.h"
#include "runtime/train.h"

static const char usage_main[] =
    "usage: graphrun <command> [options]\n"
    "\n"
    "Train neural networks declared as a graph of ops in a YAML file.\n"
    "\n"
    "commands:\n"
    "  train CONFIG     train the model CONFIG declares and report test accuracy\n"
    "  check CONFIG     validate CONFIG and its data files, print the graph\n"
    "  ops [NAME]       list the ops (built-in and plugins), or describe one\n"
    "  gradcheck CONFIG check every op of CONFIG's graph against finite differences\n"
    "  bench CONFIG     time training epochs and test-set evaluation\n"
    "\n"
    "options:\n"
    "  -h, --help       show this help (graphrun train --help for the command's)\n"
    "  --version        print the version\n"
    "\n"
    "Plugins (shared libraries adding ops) are loaded from every folder in\n"
    "GRAPHRUN_PLUGIN_PATH (':'-separated) and from a config's `plugins:` list.\n";

static const char usage_train[] =
    "usage: graphrun train CONFIG [--threads N] [--resume CHECKPOINT]\n"
    "\n"
    "Build the graph declared in CONFIG, train it with the configured optimizer,\n"
    "print 'train loss: L | test accuracy: A' every eval.every steps (accuracy on\n"
    "the first eval.samples test images), then the accuracy on the whole test set\n"
    "and the wall time.\n"
    "\n"
    "options:\n"
    "  --threads N      threads for kernels and BLAS (0: every core; default: the\n"
    "                   config's train.threads, else every core)\n"
    "  --resume CKPT    continue from a checkpoint written by this config's run\n"
    "  -h, --help       show this help\n"
    "\n"
    "With train.checkpoint set, a checkpoint is written every train.checkpoint.every\n"
    "steps, at the end, and on SIGINT or SIGTERM (then graphrun exits with 130 or\n"
    "143 after saving; a second signal stops it at once). A run resumed with the\n"
    "same config and thread count prints the same losses as one never stopped.\n"
    "\n"
    "The config format is described in README.md; configs/lstm_mnist.yaml is a\n"
    "complete example.\n";

static const char usage_bench[] =
    "usage: graphrun bench CONFIG [--epochs N] [--batch N] [--threads N] [--eval-repeats N] [--json]\n"
    "\n"
    "Train the model CONFIG declares for whole epochs without the periodic\n"
    "evaluation, timing each epoch, then time evaluation of the whole test set\n"
    "(the median of --eval-repeats runs). Reports time per epoch and per step,\n"
    "GFLOP/s (operations counted from the graph), test accuracy and peak RSS.\n"
    "\n"
    "options:\n"
    "  --epochs N         epochs to train (default 1)\n"
    "  --batch N          batch size instead of the config's train.batch_size\n"
    "  --threads N        threads (0: every core; default: the config's)\n"
    "  --eval-repeats N   evaluations of the test set to time (default 3)\n"
    "  --json             also print the figures as one JSON line\n";

static const char usage_check[] =
    "usage: graphrun check CONFIG\n"
    "\n"
    "Validate CONFIG and its data files as a training run would, without\n"
    "training: every key, every node and shape, the data's headers, sizes and\n"
    "labels, and the memory the run needs. Prints the graph with its shapes and\n"
    "parameter counts. Exits 0 only if `graphrun train CONFIG` would start.\n";

static const char usage_ops[] =
    "usage: graphrun ops [NAME] [--plugin FILE]...\n"
    "\n"
    "Without NAME, list every op: built-in ones, those of the plugins in\n"
    "GRAPHRUN_PLUGIN_PATH and those of the --plugin files, with their inputs,\n"
    "attributes (type, default, range) and origin. With NAME, describe that op.\n";

static const char usage_gradcheck[] =
    "usage: graphrun gradcheck CONFIG [--batch N] [--seed N]\n"
    "\n"
    "Build CONFIG's graph (its plugins included) at batch N (default 2) and check\n"
    "every op node's backward against central finite differences of its\n"
    "forward (h = 1e-2), with parameters drawn from their initializers and\n"
    "other inputs at random: |analytic - numeric| <= atol + 2e-3 |g| for every\n"
    "checked element (at most 400 an input), where atol is 2e-4, or the float\n"
    "forward's rounding floor when larger (the 'noise' column). Needs no data.\n"
    "Exits 0 only if every node passes.\n";

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

/* A context with the plugins of GRAPHRUN_PLUGIN_PATH loaded; prints the
 * error and returns -1 on failure. */
static int open_ctx(struct gr_ctx *ctx) {
    if (gr_ctx_init(ctx)) {
        fprintf(stderr, "graphrun: %s\n", ctx->err);
        return -1;
    }
    if (gr_plugin_load_path(ctx, getenv("GRAPHRUN_PLUGIN_PATH"))) {
        fprintf(stderr, "%s\n", ctx->err);
        gr_ctx_free(ctx);
        return -1;
    }
    return 0;
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static int cmd_train(int argc, char **argv) {
    const char *config = NULL;
    struct gr_train_opts opts = {.threads = -1, .out = stdout};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_train, stdout);
            return 0;
        } else if (!strcmp(a, "--threads")) {
            if (i + 1 >= argc || parse_int(argv[i + 1], 0, 64, &opts.threads)) {
                fprintf(stderr, "graphrun train: --threads needs a number from 0 to 64\n");
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--resume")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "graphrun train: --resume needs a checkpoint file\n");
                return 2;
            }
            opts.resume = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "graphrun train: unknown option '%s' (see graphrun train --help)\n", a);
            return 2;
        } else if (!config) {
            config = a;
        } else {
            fprintf(stderr, "graphrun train: one CONFIG only, got '%s' and '%s'\n", config, a);
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "graphrun train: missing CONFIG (see graphrun train --help)\n");
        return 2;
    }
    struct gr_ctx ctx;
    if (open_ctx(&ctx)) return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    ctx.interrupt = &g_interrupt;
    struct gr_config cfg;
    int rc = gr_config_load(&ctx, &cfg, config);
    struct gr_train_result res;
    memset(&res, 0, sizeof res);
    if (rc == 0) rc = gr_train(&ctx, &cfg, &opts, &res);
    if (rc) fprintf(stderr, "%s\n", ctx.err);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    if (rc) return 1;
    return res.interrupted ? 128 + (int)g_interrupt : 0;
}

static int cmd_check(int argc, char **argv) {
    const char *config = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_check, stdout);
            return 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "graphrun check: unknown option '%s' (see graphrun check --help)\n", a);
            return 2;
        } else if (!config) {
            config = a;
        } else {
            fprintf(stderr, "graphrun check: one CONFIG only, got '%s' and '%s'\n", config, a);
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "graphrun check: missing CONFIG (see graphrun check --help)\n");
        return 2;
    }
    struct gr_ctx ctx;
    if (open_ctx(&ctx)) return 1;
    struct gr_config cfg;
    struct gr_session s;
    memset(&s, 0, sizeof s);
    struct gr_train_opts opts = {.threads = 1, .out = NULL};
    int rc = gr_config_load(&ctx, &cfg, config);
    if (rc == 0) rc = gr_session_open(&ctx, &s, &cfg, &opts);
    if (rc) {
        fprintf(stderr, "%s\n", ctx.err);
    } else {
        char sh[96];
        printf("%s: valid; training would start\n", config);
        printf("  data: %lld training and %lld test samples\n", (long long)s.train.n, (long long)s.test.n);
        printf("  %-20s %-22s %-18s %12s\n", "node", "op", "shape", "parameters");
        int64_t total = 0;
        for (int i = 0; i < s.g.n; i++) {
            const struct gr_node *nd = &s.g.nodes[i];
            if (nd->op->flags & GR_OP_PARAM && nd->owner >= 0) continue;
            int64_t params = (nd->op->flags & GR_OP_PARAM) ? gr_shape_count(&nd->shape) : 0;
            for (int k = nd->n_user; k < nd->n_in; k++) params += gr_shape_count(&s.g.nodes[nd->in[k]].shape);
            total += params;
            printf("  %-20s %-22s %-18s %12lld\n", nd->name, nd->op->name, gr_shape_format(&nd->shape, sh, sizeof sh),
                   (long long)params);
        }
        printf("  %-20s %-22s %-18s %12lld\n", "total", "", "", (long long)total);
        printf("  memory: training plan %.1f MB at batch %lld, evaluation plan %.1f MB at batch %lld\n",
               (double)s.tp.arena_bytes / 1e6, (long long)s.tp.cap, s.logits >= 0 ? (double)s.ep.arena_bytes / 1e6 : 0.0,
               (long long)(s.logits >= 0 ? s.ep.cap : 0));
    }
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    return rc ? 1 : 0;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmd_bench(int argc, char **argv) {
    const char *config = NULL;
    int epochs = 1, batch = 0, threads = -1, repeats = 3, json = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int *target = NULL, lo = 1, hi = 1000000;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_bench, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        } else if (!strcmp(a, "--epochs")) {
            target = &epochs;
            hi = 1000;
        } else if (!strcmp(a, "--batch")) {
            target = &batch;
            hi = 1 << 20;
        } else if (!strcmp(a, "--threads")) {
            target = &threads;
            lo = 0;
            hi = 64;
        } else if (!strcmp(a, "--eval-repeats")) {
            target = &repeats;
            hi = 100;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "graphrun bench: unknown option '%s' (see graphrun bench --help)\n", a);
            return 2;
        } else if (!config) {
            config = a;
            continue;
        } else {
            fprintf(stderr, "graphrun bench: one CONFIG only, got '%s' and '%s'\n", config, a);
            return 2;
        }
        if (i + 1 >= argc || parse_int(argv[i + 1], lo, hi, target)) {
            fprintf(stderr, "graphrun bench: %s needs a number from %d to %d\n", a, lo, hi);
            return 2;
        }
        i++;
    }
    if (!config) {
        fprintf(stderr, "graphrun bench: missing CONFIG (see graphrun bench --help)\n");
        return 2;
    }
    struct gr_ctx ctx;
    if (open_ctx(&ctx)) return 1;
    struct gr_config cfg;
    struct gr_session s;
    memset(&s, 0, sizeof s);
    int rc = gr_config_load(&ctx, &cfg, config);
    if (rc == 0 && !cfg.has_eval) rc = gr_fail(&ctx, "%s: bench needs an eval section (its logits node)", config);
    if (rc == 0) {
        if (batch) cfg.batch_size = batch;
        cfg.steps = 0;
        cfg.epochs = epochs;
        struct gr_train_opts opts = {.threads = threads, .out = NULL};
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
    double epoch_s[1000];
    double fwd, bwd, efwd, ebwd;
    gr_plan_flops(&s.tp, &fwd, &bwd);
    printf("graphrun bench: %s, batch %lld, %d thread%s, %lld steps an epoch\n", config, (long long)cfg.batch_size,
           gr_pool_threads(ctx.pool), gr_pool_threads(ctx.pool) == 1 ? "" : "s", (long long)per_epoch);
    for (int e = 0; e < epochs; e++) {
        double t0 = now_seconds();
        for (int64_t k = 0; k < per_epoch; k++) gr_session_step(&s);
        epoch_s[e] = now_seconds() - t0;
        printf("  epoch %d: %.3f s, %.3f ms a step, %.1f GFLOP/s\n", e + 1, epoch_s[e], 1e3 * epoch_s[e] / (double)per_epoch,
               (fwd + bwd) * (double)per_epoch / epoch_s[e] / 1e9);
    }
    double eval_s[100], acc = 0;
    for (int r = 0; r < repeats; r++) {
        double t0 = now_seconds();
        acc = gr_session_accuracy(&s, s.test.n);
        eval_s[r] = now_seconds() - t0;
    }
    /* forward operations for the whole test set, from the plan at its capacity */
    gr_plan_set_batch(&s.ep, s.ep.cap);
    gr_plan_flops(&s.ep, &efwd, &ebwd);
    double eval_flop = efwd / (double)s.ep.cap * (double)s.test.n;
    double sorted[1000];
    memcpy(sorted, epoch_s, (size_t)epochs * sizeof *sorted);
    qsort(sorted, (size_t)epochs, sizeof *sorted, cmp_double);
    double epoch_med = sorted[epochs / 2];
    qsort(eval_s, (size_t)repeats, sizeof *eval_s, cmp_double);
    double eval_med = eval_s[repeats / 2];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = (double)ru.ru_maxrss / 1024.0;
    double train_gflop = (fwd + bwd) * (double)per_epoch / 1e9;
    printf("  test set: %lld images in %.4f s (median of %d), %.1f GFLOP/s, accuracy %.4f\n", (long long)s.test.n,
           eval_med, repeats, eval_flop / eval_med / 1e9, acc);
    printf("  operations: %.1f GFLOP an epoch (%.1f MFLOP a step), %.2f GFLOP for the test set\n", train_gflop,
           (fwd + bwd) / 1e6, eval_flop / 1e9);
    printf("  peak RSS: %.1f MB\n", rss_mb);
    if (json) {
        printf("{\"tool\": \"graphrun\", \"batch\": %lld, \"threads\": %d, \"steps_per_epoch\": %lld, \"epoch_seconds\": [",
               (long long)cfg.batch_size, gr_pool_threads(ctx.pool), (long long)per_epoch);
        for (int e = 0; e < epochs; e++) printf("%s%.4f", e ? ", " : "", epoch_s[e]);
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
            if (long_form) printf("      %s, initialised %s: %s\n", d->params[k].name, gr_init_names[d->params[k].init], d->params[k].doc);
            else printf("%s%s (%s)", k ? ", " : "", d->params[k].name, gr_init_names[d->params[k].init]);
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
        printf("    differentiable: %s; counts its operations: %s\n", d->backward ? "yes" : "no", d->flops ? "yes" : "no");
    }
}

static int cmd_ops(int argc, char **argv) {
    const char *name = NULL;
    struct gr_ctx ctx;
    if (open_ctx(&ctx)) return 1;
    int rc = 0;
    for (int i = 0; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_ops, stdout);
            gr_ctx_free(&ctx);
            return 0;
        } else if (!strcmp(a, "--plugin")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "graphrun ops: --plugin needs a file\n");
                rc = 2;
            } else if (gr_plugin_load(&ctx, argv[++i])) {
                fprintf(stderr, "%s\n", ctx.err);
                rc = 1;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "graphrun ops: unknown option '%s' (see graphrun ops --help)\n", a);
            rc = 2;
        } else if (!name) {
            name = a;
        } else {
            fprintf(stderr, "graphrun ops: one NAME only, got '%s' and '%s'\n", name, a);
            rc = 2;
        }
    }
    if (rc == 0 && name) {
        const struct gr_op_entry *e = gr_registry_entry(ctx.reg, name);
        if (e) {
            print_op(e, 1);
        } else {
            const char *near = gr_registry_suggest(ctx.reg, name);
            fprintf(stderr, "graphrun ops: no op '%s'%s%s%s\n", name, near ? " (did you mean '" : "", near ? near : "",
                    near ? "'?)" : "");
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

static int cmd_gradcheck(int argc, char **argv) {
    const char *config = NULL;
    int batch = 2, seed = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int *target = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_gradcheck, stdout);
            return 0;
        } else if (!strcmp(a, "--batch")) {
            target = &batch;
        } else if (!strcmp(a, "--seed")) {
            target = &seed;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "graphrun gradcheck: unknown option '%s' (see graphrun gradcheck --help)\n", a);
            return 2;
        } else if (!config) {
            config = a;
            continue;
        } else {
            fprintf(stderr, "graphrun gradcheck: one CONFIG only, got '%s' and '%s'\n", config, a);
            return 2;
        }
        if (i + 1 >= argc || parse_int(argv[i + 1], 1, 1 << 16, target)) {
            fprintf(stderr, "graphrun gradcheck: %s needs a number from 1 to 65536\n", a);
            return 2;
        }
        i++;
    }
    if (!config) {
        fprintf(stderr, "graphrun gradcheck: missing CONFIG (see graphrun gradcheck --help)\n");
        return 2;
    }
    struct gr_ctx ctx;
    if (open_ctx(&ctx)) return 1;
    struct gr_config cfg;
    struct gr_graph g;
    gr_graph_init(&g, &ctx, config);
    int rc = gr_config_load(&ctx, &cfg, config);
    if (rc == 0) rc = gr_config_load_plugins(&ctx, &cfg);
    if (rc == 0) rc = gr_build_graph(&ctx, &g, cfg.path, cfg.graph, batch);
    int failed = 0, checked_nodes = 0;
    if (rc == 0) {
        printf("%-20s %-22s %10s %12s %10s  %s\n", "node", "op", "elements", "worst/bound", "noise", "result");
        struct gr_rng rng;
        gr_rng_seed(&rng, (uint64_t)seed);
        for (int i = 0; i < g.n && rc == 0; i++) {
            const struct gr_node *nd = &g.nodes[i];
            if (nd->op->flags & (GR_OP_INPUT | GR_OP_PARAM)) continue;
            struct gr_gradcheck gc = {.h = 1e-2, .atol = 2e-4, .rtol = 2e-3, .max_elems = 400};
            if (!nd->op->backward) {
                printf("%-20s %-22s %10s %12s %10s  no backward\n", nd->name, nd->op->name, "-", "-", "-");
                continue;
            }
            int r = gr_gradcheck_node(&g, i, &rng, &gc);
            if (r < 0) {
                rc = -1;
                break;
            }
            checked_nodes++;
            failed += r != 0;
            printf("%-20s %-22s %10d %12.3f %10.1e  %s\n", nd->name, nd->op->name, gc.checked, gc.worst, gc.noise,
                   r ? "FAIL" : "ok");
            if (r) printf("    %s\n", gc.report);
        }
    }
    if (rc) fprintf(stderr, "%s\n", ctx.err);
    else printf("%d node%s checked, %d failed\n", checked_nodes, checked_nodes == 1 ? "" : "s", failed);
    gr_graph_free(&g);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    return rc ? 1 : failed ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage_main, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("graphrun 0.1.0\n");
        return 0;
    }
    if (!strcmp(cmd, "train")) return cmd_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "check")) return cmd_check(argc - 2, argv + 2);
    if (!strcmp(cmd, "ops")) return cmd_ops(argc - 2, argv + 2);
    if (!strcmp(cmd, "gradcheck")) return cmd_gradcheck(argc - 2, argv + 2);
    fprintf(stderr, "graphrun: unknown command '%s' (see graphrun --help)\n", cmd);
    return 2;
}
