#include "runtime/session/train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/base/clock.h"
#include "runtime/base/ctx.h"
#include "runtime/base/fs.h"
#include "runtime/session/checkpoint.h"
#include "runtime/session/evaluate.h"
#include "runtime/session/runlog.h"
#include "runtime/session/session.h"

/* Explain a non-finite loss or gradient: the step and the first node. */
static int fault_message(struct gr_session *s, int64_t step, float loss, const struct gr_train_result *res) {
    int in_grad = 0;
    int i = gr_plan_find_nonfinite(&s->tp, &in_grad);
    char where[GR_ERRBUF];
    if (i < 0) {
        snprintf(where, sizeof where, "no node holds it any more");
    } else {
        const struct gr_node *nd = &s->g.nodes[i];
        if (nd->op->flags & GR_OP_PARAM && !in_grad)
            snprintf(where, sizeof where, "parameter '%s' holds inf or nan: the previous update overflowed", nd->name);
        else
            snprintf(where, sizeof where, "the first non-finite value is in the %s of node '%s' (%s)",
                     in_grad ? "gradient" : "output", nd->name, nd->op->name);
    }
    char kept[GR_ERRBUF] = "";
    if (res->checkpoint_step >= 0)
        snprintf(kept, sizeof kept, "; the checkpoint of step %lld (%.400s) is kept", (long long)res->checkpoint_step,
                 res->checkpoint_path);
    return gr_fail(s->ctx, "step %lld: %s is %s; %s. Training stopped%s (a smaller train.optimizer.lr may help)",
                   (long long)step, isfinite(loss) ? "the gradient" : "the loss",
                   isfinite(loss) ? "not finite" : (isnan(loss) ? "nan" : "infinite"), where, kept);
}

/* After a failed write (metrics or checkpoint): the message also says
 * where training stopped and which checkpoint is kept. */
static int stopped(struct gr_ctx *ctx, const struct gr_train_result *res, int64_t step) {
    char msg[GR_ERRBUF];
    snprintf(msg, sizeof msg, "%s", ctx->err);
    if (res->checkpoint_step < 0)
        return gr_fail(ctx, "%.700s; training stopped at step %lld; no checkpoint was written", msg, (long long)step);
    return gr_fail(ctx, "%.600s; training stopped at step %lld; the checkpoint of step %lld (%.300s) is kept", msg,
                   (long long)step, (long long)res->checkpoint_step, res->checkpoint_path);
}

/* One run's moving parts, so the loop's pieces can be functions. */
struct run {
    struct gr_session *s;
    const struct gr_train_opts *opts;
    struct gr_train_result *res;
    struct gr_runlog log;
    int64_t start;
    double t0, t1; /* run start, first step */
};

static void report(struct run *r, struct gr_train_event ev) {
    if (!r->opts || !r->opts->report) return;
    ev.session = r->s;
    ev.result = r->res;
    ev.run_dir = r->res->run_dir;
    ev.start = r->start;
    r->opts->report(r->opts->report_ud, &ev);
}

/* Resume (the session's state from a checkpoint), then the run folder and
 * where checkpoints go: the config's path, else the run folder's; that
 * checkpoint must be writable before the run depends on it (a configured
 * path was probed when the session opened). */
static int prepare(struct run *r) {
    struct gr_session *s = r->s;
    struct gr_ctx *ctx = s->ctx;
    const struct gr_train_opts *opts = r->opts;
    r->start = 1;
    if (opts && opts->resume) {
        int64_t done;
        if (gr_checkpoint_load(s, opts->resume, &done)) return -1;
        r->start = done + 1;
        r->res->steps = done;
    }
    char *dir = r->res->run_dir, *ckpt = r->res->checkpoint_path;
    if (opts && opts->run_dir &&
        gr_runlog_make_dir(ctx, opts->run_dir, opts->new_run_dir, dir, sizeof r->res->run_dir))
        return -1;
    if (s->cfg->checkpoint) snprintf(ckpt, sizeof r->res->checkpoint_path, "%s", s->cfg->checkpoint);
    else if (dir[0]) snprintf(ckpt, sizeof r->res->checkpoint_path, "%s/checkpoint.safetensors", dir);
    if (!s->cfg->checkpoint && ckpt[0] && gr_probe_writable(ctx, ckpt)) return -1;
    return dir[0] ? gr_runlog_open(ctx, &r->log, s->cfg, dir, r->start - 1) : 0;
}

/* The step's evaluation, metrics row and report; 0, or -1 on a failed write. */
static int after_step(struct run *r, int64_t step, float loss) {
    struct gr_session *s = r->s;
    const struct gr_config *cfg = s->cfg;
    struct gr_train_result *res = r->res;
    s->log_sum += loss;
    s->log_n++;
    double epoch = (double)step * (double)cfg->batch_size / (double)s->train_set.n;
    int eval_now = step % cfg->eval_every == 0 || step == s->steps;
    double acc = 0;
    if (eval_now && s->logits >= 0) {
        double te = gr_now_seconds();
        acc = res->last_eval_accuracy = gr_session_accuracy(s, s->eval_set, s->eval_samples);
        res->eval_seconds += gr_now_seconds() - te;
    }
    if (eval_now)
        report(r, (struct gr_train_event){.kind = GR_TRAIN_EVAL, .step = step, .epoch = epoch, .loss = loss,
                                          .accuracy = acc, .has_accuracy = s->logits >= 0});
    if (s->log_n && (eval_now || step % cfg->log_every == 0)) {
        if (gr_runlog_row(s->ctx, &r->log, step, epoch, s->log_sum / (double)s->log_n, acc,
                          eval_now && s->logits >= 0, cfg->optim.lr, gr_now_seconds() - r->t1))
            return -1;
        s->log_sum = 0;
        s->log_n = 0;
    }
    double rate = (double)(step - r->start + 1) / (gr_now_seconds() - r->t1 - res->eval_seconds + 1e-9);
    report(r, (struct gr_train_event){.kind = GR_TRAIN_STEP, .step = step, .epoch = epoch, .loss = loss,
                                      .rate = rate});
    return 0;
}

/* A checkpoint when one is due (the last step, every N, an interrupt). */
static int maybe_save(struct run *r, int64_t step, int stop) {
    struct gr_session *s = r->s;
    const struct gr_config *cfg = s->cfg;
    const char *ckpt = r->res->checkpoint_path;
    if (!ckpt[0] || !(stop || step == s->steps || (cfg->checkpoint_every && step % cfg->checkpoint_every == 0)))
        return 0;
    if (gr_runlog_flush(s->ctx, &r->log) || gr_checkpoint_save(s, step, ckpt)) return -1;
    r->res->checkpoint_step = step;
    return 0;
}

static int loop(struct run *r) {
    struct gr_session *s = r->s;
    struct gr_train_result *res = r->res;
    for (int64_t step = r->start; step <= s->steps; step++) {
        float loss = gr_session_step(s);
        if (step == r->start) res->first_loss = loss;
        res->last_loss = loss;
        if (s->fault) return fault_message(s, step, loss, res);
        res->steps = step;
        if (after_step(r, step, loss)) return stopped(s->ctx, res, step);
        int stop = s->ctx->interrupt && *s->ctx->interrupt;
        if (maybe_save(r, step, stop)) return stopped(s->ctx, res, step);
        if (stop) {
            res->interrupted = 1;
            break;
        }
    }
    return 0;
}

int gr_train_run(struct gr_session *s, const struct gr_train_opts *opts, struct gr_train_result *res) {
    struct run r = {.s = s, .opts = opts, .res = res, .log = {.lock_fd = -1}};
    memset(res, 0, sizeof *res);
    res->checkpoint_step = -1;
    r.t0 = gr_now_seconds();
    if (prepare(&r)) {
        gr_runlog_close(s->ctx, &r.log, 0);
        return -1;
    }
    report(&r, (struct gr_train_event){.kind = GR_TRAIN_START, .step = r.start});
    r.t1 = gr_now_seconds();
    int rc = loop(&r);
    res->train_seconds = gr_now_seconds() - r.t1 - res->eval_seconds;
    if (rc == 0 && !res->interrupted && s->logits >= 0) {
        double te = gr_now_seconds();
        res->test_accuracy = gr_session_accuracy(s, &s->test_set, s->test_set.n);
        res->eval_seconds += gr_now_seconds() - te;
    }
    res->total_seconds = gr_now_seconds() - r.t0;
    if (rc == 0) report(&r, (struct gr_train_event){.kind = GR_TRAIN_END, .step = res->steps});
    if (gr_runlog_close(s->ctx, &r.log, rc == 0) && rc == 0) rc = stopped(s->ctx, res, res->steps);
    return rc;
}
