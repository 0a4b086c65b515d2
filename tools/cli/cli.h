/* The command's shared parts: the table entry every command file exports,
 * the parsed options, and the job (context, config, session) commands open.
 * Only main (tools/cli/main.c) decides the exit status; commands return it.
 *
 * Adding a command: write its function and its `struct command` in the
 * file of its family (train, inspect, models, eval, bench, plot) and list
 * it in main.c's table. */
#ifndef GR_CLI_H
#define GR_CLI_H

#include <signal.h>
#include <stdint.h>

#include "models/open.h"
#include "runtime/base/ctx.h"
#include "runtime/config/config.h"

struct cli;

struct command {
    const char *name;
    int (*run)(struct cli *o);
    const char *usage;
    const char *options; /* the options it takes, space-separated */
    int positional_min, positional_max;
};

#define MAX_SETS 64

struct cli {
    const struct command *cmd;
    const char *pos[4096];
    int n_pos;
    const char *sets[MAX_SETS + 8]; /* --set PATH=VALUE and --unset PATH (as "--unset PATH") */
    int n_sets;
    const char *plugins[32];
    int n_plugins;
    int threads, batch, seed, epochs, eval_repeats;
    double eps, rtol, atol; /* gradcheck; 0: the defaults */
    const char *checkpoint, *resume, *run_dir, *output, *predictions;
    int no_run_dir, quiet, json, backward, softmax;
    char unset_buf[MAX_SETS][264]; /* "--unset " PATH */
};

/* The commands, in the order --help lists them (main.c). */
extern const struct command *const gr_commands[];
extern const int gr_n_commands;

/* Whether command c takes option opt. */
int cli_takes(const struct command *c, const char *opt);

/* main's state, which signal and exit handlers need: the interrupt flag
 * SIGINT and SIGTERM set (read by the training loop through
 * ctx->interrupt), and what the plugin loader is running. */
volatile sig_atomic_t *cli_interrupt(void);
void cli_catch_signals(void);
struct gr_plugin_activity *cli_plugin_activity(void);

/* A context with the plugins of GRAPHRUN_PLUGIN_PATH loaded; prints the error. */
int cli_open_ctx(struct gr_ctx *ctx);

/* Context, config (with the overrides) and, if `session`, everything up to
 * the first step in the mode the command needs, with the checkpoint loaded
 * when one is given. Prints the error. */
struct job {
    struct gr_ctx ctx;
    struct gr_config cfg;
    struct gr_session s;
    int have_ctx, have_cfg, have_session;
    int64_t ckpt_step;
};
int cli_open_job(struct job *j, const struct cli *o, int session);
/* The same without printing: -1 with the message in err, the job left as
 * far as it opened (cli_close_job closes it either way). */
int cli_load_job(struct job *j, const struct cli *o, int session, char *err, size_t len);
void cli_close_job(struct job *j);
/* The job's config's graph at `batch`, after its plugins are loaded (the
 * graph is initialised either way; free it with gr_graph_free). */
int cli_job_graph(struct job *j, struct gr_graph *g, int64_t batch);

/* "images" for a dataset with an array of that name, else "samples". */
const char *cli_sample_noun(const struct gr_dataset *d);
/* "60000 training and 10000 test images of [28, 28]", with a validation
 * set between them when there is one. */
const char *cli_describe_sets(const struct gr_session *s, char *buf, size_t len);

/* errno after a failed write (EIO if the C library left it unset). */
int cli_write_errno(void);

#endif
