/* Opening what a command works on, the same way for every command. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/builder.h"
#include "runtime/host/host.h"
#include "runtime/host/plugin.h"
#include "runtime/session/checkpoint.h"
#include "tools/cli/cli.h"

/* cli_open_ctx without printing: the message in err. */
static int load_ctx(struct gr_ctx *ctx, char *err, size_t len) {
    if (gr_ctx_init(ctx)) {
        snprintf(err, len, "graphrun: %.1000s", ctx->err);
        return -1;
    }
    ctx->plugin_activity = cli_plugin_activity();
    if (gr_plugin_load_path(ctx, getenv("GRAPHRUN_PLUGIN_PATH"))) {
        snprintf(err, len, "%s", ctx->err);
        gr_ctx_free(ctx);
        return -1;
    }
    return 0;
}

int cli_open_ctx(struct gr_ctx *ctx) {
    char err[GR_ERRBUF];
    if (load_ctx(ctx, err, sizeof err) == 0) return 0;
    fprintf(stderr, "%s\n", err);
    return -1;
}

void cli_close_job(struct job *j) {
    if (j->have_session) gr_session_close(&j->s);
    if (j->have_cfg) gr_config_free(&j->ctx, &j->cfg);
    if (j->have_ctx) gr_ctx_free(&j->ctx);
    memset(j, 0, sizeof *j);
}

/* What a command's session reads and holds: check and summary lay the run
 * out without holding it; eval needs the test set and the weights, predict
 * and export the weights alone. */
static enum gr_session_mode job_mode(const struct command *c) {
    if (!strcmp(c->name, "check") || !strcmp(c->name, "summary")) return GR_SESSION_CHECK;
    if (!strcmp(c->name, "eval")) return GR_SESSION_EVAL;
    if (!strcmp(c->name, "predict") || !strcmp(c->name, "export")) return GR_SESSION_PREDICT;
    return GR_SESSION_TRAIN;
}

int cli_load_job(struct job *j, const struct cli *o, int session, char *err, size_t len) {
    memset(j, 0, sizeof *j);
    if (load_ctx(&j->ctx, err, len)) return -1;
    j->have_ctx = 1;
    int rc = gr_config_load_ex(&j->ctx, &j->cfg, o->pos[0], o->sets, o->n_sets);
    j->have_cfg = 1;
    if (rc == 0 && session) {
        struct gr_session_opts opts = {.threads = o->threads, .mode = job_mode(o->cmd)};
        rc = gr_session_open(&j->ctx, &j->s, &j->cfg, &opts);
        j->have_session = 1;
        if (rc == 0 && o->checkpoint) rc = gr_checkpoint_load(&j->s, o->checkpoint, &j->ckpt_step);
        if (rc == 0 && j->s.logits < 0 && cli_takes(o->cmd, "--checkpoint"))
            rc = gr_fail(&j->ctx, "%s: %s needs an eval section naming the logits node", o->pos[0], o->cmd->name);
    }
    if (rc) snprintf(err, len, "%s", j->ctx.err);
    return rc;
}

int cli_open_job(struct job *j, const struct cli *o, int session) {
    char err[GR_ERRBUF];
    if (cli_load_job(j, o, session, err, sizeof err) == 0) return 0;
    fprintf(stderr, "%s\n", err);
    cli_close_job(j);
    return -1;
}

int cli_job_graph(struct job *j, struct gr_graph *g, int64_t batch) {
    gr_graph_init(g, &j->ctx, j->cfg.path);
    int rc = gr_config_load_plugins(&j->ctx, &j->cfg);
    return rc ? rc
              : gr_build_model(&j->ctx, g, j->cfg.path, j->cfg.graph, gr_ymap_get(j->cfg.doc.root, "blocks"), batch);
}

int cli_write_errno(void) { return errno ? errno : EIO; }

const char *cli_sample_noun(const struct gr_dataset *d) {
    return d && gr_dataset_find(d, "images") >= 0 ? "images" : "samples";
}

const char *cli_describe_sets(const struct gr_session *s, char *buf, size_t len) {
    const struct gr_dataset *d = s->train_set.d ? s->train_set.d : s->test_set.d;
    int k = d ? gr_dataset_find(d, "images") : -1;
    char shape[4 + 32 * GR_ARRAY_MAX_RANK] = "", valid[160] = "";
    if (k >= 0) {
        snprintf(shape, sizeof shape, " of ");
        gr_array_sample_text(&d->arrays[k].info, shape + 4, sizeof shape - 4);
    }
    if (s->valid_set.d)
        snprintf(valid, sizeof valid, ", %lld validation%s", (long long)s->valid_set.n,
                 s->valid_set.d == &s->train ? " (held out of data.train)" : "");
    snprintf(buf, len, "%lld training%s and %lld test %s%s", (long long)s->train_set.n, valid,
             (long long)s->test_set.n, cli_sample_noun(d), shape);
    return buf;
}
