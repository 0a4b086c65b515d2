#include "runtime/session/train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/base/clock.h"
#include "runtime/base/ctx.h"
#include "runtime/base/fs.h"
#include "runtime/session/checkpoint.h"
#include "runtime/session/evaluate.h"
#include "runtime/session/leaves.h"
#include "runtime/session/parallel.h"
#include "runtime/session/runlog.h"
#include "runtime/session/session.h"
#include "runtime/session/watch.h"

/* Explain a non-finite loss or gradient: the step and the first node. */
static int fault_message(struct gr_session *s, int64_t step, float loss, const struct gr_train_result *res, int *own) {
    int in_grad = 0;
    /* by leaves, the leaf that holds it runs again on s->tp */
    if (s->leaves > 1) gr_leaves_replay_fault(s, s->cfg->batch_size);
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
    *own = i >= 0;
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
    double t0, t1;         /* run start, first step */
    double train0, wall0;  /* training and wall seconds of the run before this process */
    int end;               /* early stopping or the target ends the run after this step */
};

/* Rank 0 alone reports (and so prints). */
static void report(struct run *r, struct gr_train_event ev) {
    if (!r->opts || !r->opts->report || gr_parallel_rank(r->s) != 0) return;
    ev.session = r->s;
    ev.result = r->res;
    ev.run_dir = r->res->run_dir;
    ev.start = r->start;
    r->opts->report(r->opts->report_ud, &ev);
}

/* The session's clocks: training (evaluation left out) and wall seconds of
 * the whole run, earlier processes' included (checkpoints keep them). */
static void update_clocks(struct run *r) {
    double now = gr_now_seconds();
    r->s->train_seconds = r->train0 + (now - r->t1 - r->res->eval_seconds);
    r->s->wall_seconds = r->wall0 + (now - r->t0);
}

/* "DIR/best.safetensors": beside the checkpoint, when there is one. */
static void best_path(struct run *r) {
    const char *ckpt = r->res->checkpoint_path, *slash = strrchr(ckpt, '/');
    if (!ckpt[0] || !r->s->cfg->early.on) return;
    char *out = r->res->best_path;
    if (slash) snprintf(out, sizeof r->res->best_path, "%.*s/best.safetensors", (int)(slash - ckpt), ckpt);
    else snprintf(out, sizeof r->res->best_path, "best.safetensors");
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
    r->train0 = s->train_seconds;
    r->wall0 = s->wall_seconds;
    /* a run that early stopping or its target ended stays ended */
    r->end = s->watch.stopped != 0 || (s->cfg->target.stop && s->watch.target_step != 0);
    if (gr_parallel_rank(s) != 0) return 0; /* rank 0 alone writes files */
    char *dir = r->res->run_dir, *ckpt = r->res->checkpoint_path;
    if (opts && opts->run_dir &&
        gr_runlog_make_dir(ctx, opts->run_dir, opts->new_run_dir, dir, sizeof r->res->run_dir))
        return -1;
    if (s->cfg->checkpoint) snprintf(ckpt, sizeof r->res->checkpoint_path, "%s", s->cfg->checkpoint);
    else if (dir[0]) snprintf(ckpt, sizeof r->res->checkpoint_path, "%s/checkpoint.safetensors", dir);
    if (!s->cfg->checkpoint && ckpt[0] && gr_probe_writable(ctx, ckpt)) return -1;
    best_path(r);
    if (dir[0] && gr_runlog_open(ctx, &r->log, s->cfg, dir, opts->resume ? r->start - 1 : -1, opts->resume)) {
        dir[0] = 0; /* refused (in use, another run's): not this run's folder to report or plot */
        return -1;
    }
    return 0;
}

/* The periodic evaluation of `step` (of what periodic evaluation measures:
 * the first eval.samples of the set eval.on names) and what it drives: the schedule,
 * early stopping, the target. */
static void evaluate_step(struct run *r, int64_t step, double epoch, struct gr_measure *m,
                          struct gr_watch_news *news) {
    struct gr_session *s = r->s;
    double te = gr_now_seconds();
    gr_session_measure(s, s->eval_set, s->eval_samples, m);
    r->res->last_eval_accuracy = m->accuracy;
    r->res->eval_seconds += gr_now_seconds() - te;
    update_clocks(r);
    gr_watch_eval(s, step, epoch, m, news);
    r->end |= news->stop;
}

/* The evaluation's line, then its news: the target reached (reported,
 * written to the run folder), early stopping. */
static int report_eval(struct run *r, int64_t step, double epoch, float loss, const struct gr_measure *m,
                       const struct gr_watch_news *news) {
    struct gr_session *s = r->s;
    report(r, (struct gr_train_event){.kind = GR_TRAIN_EVAL, .step = step, .epoch = epoch, .loss = loss,
                                      .accuracy = m->accuracy, .has_accuracy = s->logits >= 0,
                                      .eval_loss = m->loss, .has_eval_loss = m->has_loss, .lr = s->opt.lr,
                                      .nan_rows = m->nan_rows});
    if (news->reached) {
        report(r, (struct gr_train_event){.kind = GR_TRAIN_TARGET, .step = step, .epoch = epoch});
        if (r->res->run_dir[0] && gr_watch_write_target(s->ctx, s, r->res->run_dir, s->steps)) return -1;
    }
    if (news->stop && s->watch.stopped == step)
        report(r, (struct gr_train_event){.kind = GR_TRAIN_STOP, .step = step, .epoch = epoch});
    return 0;
}

/* The step's evaluation, metrics row, best checkpoint and report; 0, or -1
 * on a failed write. */
static int after_step(struct run *r, int64_t step, float loss) {
    struct gr_session *s = r->s;
    const struct gr_config *cfg = s->cfg;
    s->log_sum += loss;
    s->norm_sum += s->grad_norm;
    s->log_n++;
    double epoch = (double)step * (double)cfg->batch_size / (double)s->train_set.n;
    int eval_now = step % cfg->eval_every == 0 || step == s->steps;
    struct gr_measure m = {0, 0, 0};
    struct gr_watch_news news = {0, 0, 0};
    if (eval_now && s->logits >= 0) evaluate_step(r, step, epoch, &m, &news);
    if (eval_now && report_eval(r, step, epoch, loss, &m, &news)) return -1;
    if (s->log_n && (eval_now || r->end || step % cfg->log_every == 0)) {
        struct gr_metrics_row row = {step, epoch, s->log_sum / (double)s->log_n, m.accuracy, m.loss,
                                     eval_now && s->logits >= 0, m.has_loss, s->opt.lr,
                                     s->norm_sum / (double)s->log_n, gr_now_seconds() - r->t1};
        if (gr_runlog_row(s->ctx, &r->log, &row)) return -1;
        s->log_sum = s->norm_sum = 0;
        s->log_n = 0;
    }
    if (news.improved && r->res->best_path[0]) {
        update_clocks(r);
        if (gr_runlog_flush(s->ctx, &r->log) || gr_checkpoint_save(s, step, r->res->best_path)) return -1;
    }
    double rate = (double)(step - r->start + 1) / (gr_now_seconds() - r->t1 - r->res->eval_seconds + 1e-9);
    report(r, (struct gr_train_event){.kind = GR_TRAIN_STEP, .step = step, .epoch = epoch, .loss = loss,
                                      .rate = rate, .lr = s->opt.lr});
    return 0;
}

/* A checkpoint when one is due (the last step, every N, an interrupt, the
 * run's early end). */
static int maybe_save(struct run *r, int64_t step, int stop) {
    struct gr_session *s = r->s;
    const struct gr_config *cfg = s->cfg;
    const char *ckpt = r->res->checkpoint_path;
    if (!ckpt[0] || !(stop || r->end || step == s->steps ||
                      (cfg->checkpoint_every && step % cfg->checkpoint_every == 0)))
        return 0;
    update_clocks(r);
    if (gr_runlog_flush(s->ctx, &r->log) || gr_checkpoint_save(s, step, ckpt)) return -1;
    r->res->checkpoint_step = step;
    return 0;
}

/* Whether rank 0 may have written a checkpoint after this step (2), only a
 * metrics row (1), or nothing: after a write the ranks agree on how it
 * went, and after a checkpoint that their parameters are still the same. */
static int may_write(const struct gr_session *s, int64_t step, int stop) {
    const struct gr_config *cfg = s->cfg;
    if (stop || step == s->steps || (cfg->checkpoint_every && step % cfg->checkpoint_every == 0)) return 2;
    return step % cfg->eval_every == 0 || step % cfg->log_every == 0;
}

static int loop(struct run *r) {
    struct gr_session *s = r->s;
    struct gr_train_result *res = r->res;
    for (int64_t step = r->start; step <= s->steps && !r->end; step++) {
        float loss = gr_session_step(s);
        if (s->broken) return -1;
        if (step == r->start) res->first_loss = loss;
        res->last_loss = loss;
        if (s->fault) {
            int own = 1;
            return gr_parallel_agree(s, fault_message(s, step, loss, res, &own), own, 0);
        }
        res->steps = step;
        /* every rank of a job stops at the same step: one that any was interrupted at */
        int stop = gr_parallel_on(s) ? s->stop : s->ctx->interrupt && *s->ctx->interrupt;
        int rc = after_step(r, step, loss) || maybe_save(r, step, stop) ? stopped(s->ctx, res, step) : 0;
        int wrote = gr_parallel_on(s) ? may_write(s, step, stop) : 0;
        if (wrote) rc = gr_parallel_agree(s, rc, 1, wrote == 2);
        if (rc) return -1;
        if (stop) {
            res->interrupted = 1;
            break;
        }
    }
    return 0;
}

/* The whole test set for the last weights and, with early stopping, its
 * best; the target's file when it was never reached. */
static int finish(struct run *r) {
    struct gr_session *s = r->s;
    struct gr_train_result *res = r->res;
    const struct gr_watch *w = &s->watch;
    res->stopped_early = w->stopped;
    res->best_step = w->best_step;
    res->best_metric = w->best;
    res->target_stop = s->cfg->target.stop && w->target_step == res->steps && r->end && !w->stopped;
    if (res->interrupted || s->logits < 0) return 0;
    double te = gr_now_seconds();
    struct gr_measure tm;
    gr_session_measure(s, &s->test_set, s->test_set.n, &tm);
    res->test_accuracy = tm.accuracy;
    res->test_nan_rows = tm.nan_rows;
    if (w->best_param && w->best_step > 0) {
        gr_watch_swap_best(s);
        res->best_test_accuracy = gr_session_accuracy(s, &s->test_set, s->test_set.n);
        gr_watch_swap_best(s);
    }
    res->eval_seconds += gr_now_seconds() - te;
    if (s->cfg->target.on && !w->target_step && res->run_dir[0])
        return gr_watch_write_target(s->ctx, s, res->run_dir, res->steps);
    return 0;
}

int gr_train_run(struct gr_session *s, const struct gr_train_opts *opts, struct gr_train_result *res) {
    struct run r = {.s = s, .opts = opts, .res = res, .log = {.lock_fd = -1}};
    memset(res, 0, sizeof *res);
    res->checkpoint_step = -1;
    r.t0 = gr_now_seconds();
    if (gr_parallel_agree(s, prepare(&r), 1, 0) || gr_parallel_start(s)) {
        gr_runlog_close(s->ctx, &r.log, 0);
        return -1;
    }
    report(&r, (struct gr_train_event){.kind = GR_TRAIN_START, .step = r.start});
    r.t1 = gr_now_seconds();
    int rc = loop(&r);
    res->train_seconds = gr_now_seconds() - r.t1 - res->eval_seconds;
    res->comm_seconds = s->comm_seconds;
    /* the final measures are the same on every rank; rank 0 alone may fail writing target.json */
    if (rc == 0) rc = gr_parallel_agree(s, finish(&r), 1, 0);
    res->total_seconds = gr_now_seconds() - r.t0;
    if (rc == 0) report(&r, (struct gr_train_event){.kind = GR_TRAIN_END, .step = res->steps});
    /* rank 0's last rows; a failed loop was agreed on already */
    int closed = gr_runlog_close(s->ctx, &r.log, rc == 0);
    if (rc == 0) rc = gr_parallel_agree(s, closed ? stopped(s->ctx, res, res->steps) : 0, 1, 0);
    return rc;
}
