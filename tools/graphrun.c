/* graphrun: the command. Only main decides the exit status:
 *   0 success, 1 a user error (config, data), 2 a usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/config.h"
#include "runtime/ctx.h"
#include "runtime/train.h"

static const char usage_main[] =
    "usage: graphrun <command> [options]\n"
    "\n"
    "Train neural networks declared as a graph of ops in a YAML file.\n"
    "\n"
    "commands:\n"
    "  train CONFIG     train the model CONFIG declares and report test accuracy\n"
    "\n"
    "options:\n"
    "  -h, --help       show this help (graphrun train --help for the command's)\n"
    "  --version        print the version\n";

static const char usage_train[] =
    "usage: graphrun train CONFIG [--threads N]\n"
    "\n"
    "Build the graph declared in CONFIG, train it with the configured optimizer,\n"
    "print 'train loss: L | test accuracy: A' every eval.every steps (accuracy on\n"
    "the first eval.samples test images), then the accuracy on the whole test set\n"
    "and the wall time.\n"
    "\n"
    "options:\n"
    "  --threads N      threads for kernels and BLAS (0: every core; default: the\n"
    "                   config's train.threads, else every core)\n"
    "  -h, --help       show this help\n"
    "\n"
    "The config format is described in README.md; configs/lstm_mnist.yaml is a\n"
    "complete example.\n";

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
    if (gr_ctx_init(&ctx)) {
        fprintf(stderr, "graphrun: %s\n", ctx.err);
        return 1;
    }
    struct gr_config cfg;
    int rc = gr_config_load(&ctx, &cfg, config);
    struct gr_train_result res;
    if (rc == 0) rc = gr_train(&ctx, &cfg, &opts, &res);
    if (rc) fprintf(stderr, "%s\n", ctx.err);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    return rc ? 1 : 0;
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
    fprintf(stderr, "graphrun: unknown command '%s' (see graphrun --help)\n", cmd);
    return 2;
}
