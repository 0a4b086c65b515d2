/* graphrun train: a run, drawn from the library's events. */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/clock.h"
#include "runtime/host/registry.h"
#include "runtime/dist/dist.h"
#include "runtime/host/threads.h"
#include "runtime/session/watch.h"
#include "tools/cli/cli.h"
#include "tools/plot.h"

/* What the command prints of a run, drawn from the library's events: the
 * effective config and a header when it starts, a line at each
 * evaluation, a progress line redrawn in place on a terminal, and the
 * results at the end. */
struct printer {
    FILE *out;
    int quiet, progress;
    double t0, last_draw; /* the command's start, the last progress draw */
    int drawn;
    int show_lr; /* the rate changes: evaluation lines show it */
};

/* The effective config, each line behind "  | ", without the comment line
 * that opens cfg->run_text. */
/* Line p[0..n) with every "CWD/" that starts a path taken out, so paths
 * under the current folder read as the user would type them (the run
 * folder's config keeps them whole). */
static void print_relative(FILE *out, const char *p, int n, const char *cwd, size_t len) {
    for (int i = 0; i < n; i++) {
        int starts = i == 0 || !(isalnum((unsigned char)p[i - 1]) || p[i - 1] == '/' || p[i - 1] == '.');
        if (len && starts && (size_t)(n - i) > len && p[i + (int)len] == '/' && !strncmp(p + i, cwd, len)) {
            i += (int)len; /* and the slash */
            continue;
        }
        fputc(p[i], out);
    }
}

static void print_config(const struct gr_config *cfg, FILE *out) {
    const char *text = cfg->run_text ? cfg->run_text : "", *nl = strchr(text, '\n');
    char cwd[4096];
    size_t len = getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") ? strlen(cwd) : 0;
    int n_sets = 0;
    for (const struct gr_str_list *o = cfg->origins; o; o = o->next) n_sets++;
    fprintf(out, "effective config (%s, %d override%s):\n", cfg->path, n_sets, n_sets == 1 ? "" : "s");
    for (const char *p = text[0] == '#' && nl ? nl + 1 : text; *p;) {
        const char *end = strchr(p, '\n');
        int n = end ? (int)(end - p) : (int)strlen(p);
        fputs("  | ", out);
        print_relative(out, p, n, cwd, len);
        fputc('\n', out);
        p += n + (end ? 1 : 0);
    }
}

/* "  rate:  cosine by steps, warmup 100 steps; clip norm 1" when there is more than a constant rate */
static void print_schedule_line(const struct gr_session *s, FILE *out) {
    const struct gr_config *cfg = s->cfg;
    const struct gr_sched *sc = &s->sched;
    if (sc->cfg.desc == s->ctx->reg->scheds[0] && !sc->warmup && cfg->clip_norm <= 0 && cfg->clip_value <= 0) return;
    fprintf(out, "  rate:  %s by %s", sc->cfg.desc->name, sc->cfg.epochs ? "epochs" : "steps");
    if (sc->warmup) fprintf(out, ", warmup %lld steps", (long long)sc->warmup);
    if (cfg->clip_norm > 0) fprintf(out, "; clip norm %g", cfg->clip_norm);
    if (cfg->clip_value > 0) fprintf(out, "; clip value %g", cfg->clip_value);
    fprintf(out, "\n");
}

/* "  watch: early stopping on eval loss (patience 5); target accuracy >= 0.98" */
static void print_watch_line(const struct gr_config *cfg, FILE *out) {
    if (!cfg->early.on && !cfg->target.on) return;
    fprintf(out, "  watch: ");
    if (cfg->early.on)
        fprintf(out, "early stopping on eval %s (%s, patience %lld, min_delta %g)%s", gr_metric_name(cfg->early.metric),
                cfg->early.maximize ? "max" : "min", (long long)cfg->early.patience, cfg->early.min_delta,
                cfg->target.on ? "; " : "");
    if (cfg->target.on)
        fprintf(out, "target %s %s %g%s", gr_metric_name(cfg->target.metric),
                cfg->target.metric == GR_METRIC_ACCURACY ? ">=" : "<=", cfg->target.value,
                cfg->target.stop ? ", then stop" : "");
    fprintf(out, "\n");
}

static void print_header(const struct gr_session *s, FILE *out, int64_t start) {
    const struct gr_config *cfg = s->cfg;
    char a[256];
    int threads = gr_pool_threads(s->ctx->pool);
    fprintf(out, "graphrun: %s\n", cfg->path);
    fprintf(out, "  data:  %s\n", cli_describe_sets(s, a, sizeof a));
    int n_nodes = 0;
    for (int i = 0; i < s->g.n; i++) n_nodes += !(s->g.nodes[i].op->flags & GR_OP_PARAM);
    fprintf(out, "  graph: %d nodes, %lld parameters", n_nodes, (long long)(s->g.n_weights - s->g.n_state));
    if (s->g.n_state) fprintf(out, " and %lld values of state", (long long)s->g.n_state);
    fprintf(out, "\n");
    fprintf(out, "  train: %s lr %g, batch %lld, %lld steps, seed %llu, %d thread%s\n",
            cfg->optim.desc->name, cfg->optim.lr, (long long)cfg->batch_size,
            (long long)s->steps, (unsigned long long)cfg->seed, threads, threads == 1 ? "" : "s");
    print_schedule_line(s, out);
    int ranks = gr_dist_size(s->dist);
    if (ranks > 1)
        fprintf(out, "  ranks: %d (%d on this host), each taking %lld%s samples of a batch\n", ranks,
                s->dist->local_size, (long long)(cfg->batch_size / ranks), cfg->batch_size % ranks ? " or 1 more" : "");
    if (s->logits >= 0)
        fprintf(out, "  eval:  every %lld steps on the first %lld %s %s\n", (long long)cfg->eval_every,
                (long long)s->eval_samples, s->eval_set->what, cli_sample_noun(s->eval_set->d));
    print_watch_line(cfg, out);
    if (start > 1) fprintf(out, "  resumed after step %lld\n", (long long)(start - 1));
    fflush(out);
}

/* "step 350/1200  epoch 0.37  loss 0.1234  812 steps/s  eta 1.0 s", drawn
 * over itself; eval lines clear it first. */
static void draw_progress(FILE *out, int64_t step, int64_t steps, double epoch, double loss, double rate) {
    double eta = rate > 0 ? (double)(steps - step) / rate : 0;
    int width = 24, done = (int)((double)width * (double)step / (double)steps);
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < done ? '#' : '.';
    bar[width] = 0;
    fprintf(out, "\r\033[K[%s] step %lld/%lld  epoch %.2f  loss %.4f  %.0f steps/s  eta %.1f s", bar,
            (long long)step, (long long)steps, epoch, loss, rate, eta);
    fflush(out);
}

/* "target accuracy >= 0.98 reached at step 850 (epoch 0.91): 0.9815, after 3.1 s of training (3.9 s wall)" */
static void print_target(FILE *out, const struct gr_session *s) {
    const struct gr_target_cfg *tg = &s->cfg->target;
    const struct gr_watch *w = &s->watch;
    fprintf(out, "target %s %s %g reached at step %lld (epoch %.2f): %.4f, after %.1f s of training (%.1f s wall)\n",
            gr_metric_name(tg->metric), tg->metric == GR_METRIC_ACCURACY ? ">=" : "<=", tg->value,
            (long long)w->target_step, w->target_epoch, w->target_measured, w->target_train_seconds,
            w->target_wall_seconds);
}

static void print_stop(FILE *out, const struct gr_session *s, int64_t step) {
    const struct gr_stop_cfg *st = &s->cfg->early;
    fprintf(out, "early stopping at step %lld: eval %s not better by more than %g for %lld evaluation%s (best %.4f at "
                 "step %lld)\n",
            (long long)step, gr_metric_name(st->metric), st->min_delta, (long long)st->patience,
            st->patience == 1 ? "" : "s", s->watch.best, (long long)s->watch.best_step);
}

static void print_end(struct printer *p, const struct gr_train_event *ev) {
    const struct gr_session *s = ev->session;
    const struct gr_train_result *res = ev->result;
    FILE *out = p->out;
    if (!res->interrupted && s->logits >= 0) {
        fprintf(out, "test accuracy (all %lld test %s): %.4f", (long long)s->test_set.n,
                cli_sample_noun(s->test_set.d), res->test_accuracy);
        if (res->test_nan_rows)
            fprintf(out, " (%lld with logits not finite, counted as wrong)", (long long)res->test_nan_rows);
        fprintf(out, "\n");
    }
    if (!res->interrupted && s->logits >= 0 && res->best_step > 0)
        fprintf(out, "test accuracy of the best weights (step %lld, eval %s %.4f): %.4f\n", (long long)res->best_step,
                gr_metric_name(s->cfg->early.metric), res->best_metric, res->best_test_accuracy);
    if (s->cfg->target.on && !s->watch.target_step && !res->interrupted && !p->quiet)
        fprintf(out, "target %s %s %g not reached in %lld steps\n", gr_metric_name(s->cfg->target.metric),
                s->cfg->target.metric == GR_METRIC_ACCURACY ? ">=" : "<=", s->cfg->target.value,
                (long long)res->steps);
    const char *ckpt = res->checkpoint_path;
    if (res->interrupted)
        fprintf(out, "interrupted after step %lld%s%s%s\n", (long long)res->steps,
                res->checkpoint_step >= 0 ? "; checkpoint saved to " : " (nowhere to save a checkpoint)",
                res->checkpoint_step >= 0 ? ckpt : "", res->checkpoint_step >= 0 ? "; continue with --resume" : "");
    else if (res->checkpoint_step >= 0 && !p->quiet)
        fprintf(out, "checkpoint: %s (step %lld)\n", ckpt, (long long)res->checkpoint_step);
    if (!res->interrupted && res->best_path[0] && res->best_step > 0 && !p->quiet)
        fprintf(out, "best checkpoint: %s (step %lld)\n", res->best_path, (long long)res->best_step);
    int64_t taken = res->steps - ev->start + 1 > 0 ? res->steps - ev->start + 1 : 1;
    char comm[96] = "";
    if (gr_dist_size(s->dist) > 1)
        snprintf(comm, sizeof comm, " of which allreduce %.3f ms", 1e3 * res->comm_seconds / (double)taken);
    fprintf(out, "wall time: %.1f s (training %.1f s, %.2f ms a step%s; evaluation %.1f s)\n", gr_now_seconds() - p->t0,
            res->train_seconds, 1e3 * res->train_seconds / (double)taken, comm, res->eval_seconds);
    fflush(out);
}

static void print_event(void *ud, const struct gr_train_event *ev) {
    struct printer *p = ud;
    FILE *out = p->out;
    switch (ev->kind) {
    case GR_TRAIN_START:
        p->show_lr = ev->session->sched.cfg.desc != ev->session->ctx->reg->scheds[0] || ev->session->sched.warmup;
        if (p->quiet) break;
        print_config(ev->session->cfg, out);
        print_header(ev->session, out, ev->start);
        if (ev->run_dir[0]) fprintf(out, "  run:   %s\n", ev->run_dir);
        fflush(out);
        break;
    case GR_TRAIN_EVAL:
        if (p->quiet) break;
        if (p->progress) fprintf(out, "\r\033[K");
        fprintf(out, "train loss: %.4f", ev->loss);
        if (ev->has_accuracy) fprintf(out, " | %s accuracy: %.2f", ev->session->eval_set->what, ev->accuracy);
        if (ev->has_accuracy && ev->nan_rows)
            fprintf(out, " (%lld with logits not finite, counted as wrong)", (long long)ev->nan_rows);
        if (p->show_lr) fprintf(out, " | lr: %.4g", ev->lr);
        fprintf(out, "\n");
        fflush(out);
        p->last_draw = 0;
        break;
    case GR_TRAIN_TARGET:
        if (p->progress) fprintf(out, "\r\033[K");
        print_target(out, ev->session);
        fflush(out);
        break;
    case GR_TRAIN_STOP:
        if (p->progress) fprintf(out, "\r\033[K");
        print_stop(out, ev->session, ev->step);
        fflush(out);
        break;
    case GR_TRAIN_STEP: {
        if (!p->progress) break;
        double now = gr_now_seconds();
        if (now - p->last_draw > 0.1 || ev->step == ev->session->steps) {
            draw_progress(out, ev->step, ev->session->steps, ev->epoch, ev->loss, ev->rate);
            p->last_draw = now;
            p->drawn = 1;
        }
        break;
    }
    case GR_TRAIN_END:
        if (p->progress) fprintf(out, "\r\033[K");
        print_end(p, ev);
        break;
    }
}

static const char *base_name(const char *path, char *buf, size_t len) {
    const char *b = strrchr(path, '/');
    snprintf(buf, len, "%s", b ? b + 1 : path);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = 0;
    return buf;
}

/* The run folder: given, the resumed checkpoint's, or a new dated one
 * (returns 1 for a dated name, made new when the run starts: two runs
 * started in the same second get <name>-2, -3, ...). */
static int pick_run_dir(const struct cli *o, char *run_dir, size_t len) {
    if (o->run_dir) {
        snprintf(run_dir, len, "%s", o->run_dir);
    } else if (!o->no_run_dir && o->resume) {
        char probe[4200];
        snprintf(run_dir, len, "%s", o->resume);
        char *slash = strrchr(run_dir, '/');
        if (slash) *slash = 0;
        else snprintf(run_dir, len, ".");
        snprintf(probe, sizeof probe, "%s/metrics.csv", run_dir);
        struct stat st;
        if (stat(probe, &st) != 0) run_dir[0] = 0;
    }
    if (run_dir[0] || o->no_run_dir) return 0;
    char stem[256], when[64];
    time_t t = time(NULL);
    strftime(when, sizeof when, "%Y%m%d-%H%M%S", localtime(&t));
    snprintf(run_dir, len, "runs/%s-%s", base_name(o->pos[0], stem, sizeof stem), when);
    return 1;
}

/* The run folder's last line, with its plot (after a failed run, its error
 * stays the one line on stderr). */
static void report_folder(const char *dir, int rc) {
    char err[512];
    int plotted = plot_run(dir, err, sizeof err);
    if (plotted < 0 && rc == 0) fprintf(stderr, "graphrun train: no plot: %s\n", err);
    else if (plotted > 0)
        printf("run folder: %s (metrics.csv, metrics.jsonl, config.yaml; no plot: no metrics rows yet)\n", dir);
    else if (plotted == 0) printf("run folder: %s (plot.png, metrics.csv, metrics.jsonl, config.yaml)\n", dir);
}

/* The run on an open job; every rank of a job runs it, rank 0 prints. */
static int train(struct cli *o, struct job *j, const struct gr_dist *dist, char *err, size_t len) {
    double t0 = gr_now_seconds();
    char run_dir[4096] = "";
    int dated = pick_run_dir(o, run_dir, sizeof run_dir);
    int rank0 = gr_dist_rank(dist) == 0;
    cli_catch_signals();
    j->ctx.interrupt = cli_interrupt();
    /* mpirun hands ranks a terminal whatever its own output is: no progress line */
    int progress = isatty(STDOUT_FILENO) && !o->quiet && gr_dist_size(dist) == 1;
    struct printer pr = {stdout, o->quiet, progress, t0, 0};
    struct gr_train_opts opts = {
        .threads = o->threads,
        .resume = o->resume,
        .run_dir = run_dir[0] ? run_dir : NULL,
        .new_run_dir = dated,
        .report = print_event,
        .report_ud = &pr,
    };
    struct gr_train_result res;
    memset(&res, 0, sizeof res);
    struct gr_session_opts so = {.threads = o->threads, .mode = GR_SESSION_TRAIN, .dist = dist};
    int rc = gr_session_open(&j->ctx, &j->s, &j->cfg, &so);
    j->have_session = 1;
    /* every rank opened its session, or all stop with the first failure */
    rc = gr_dist_agree(dist, rc ? GR_DIST_FAILED : GR_DIST_OK, j->ctx.err, sizeof j->ctx.err);
    if (rc == 0) rc = gr_train_run(&j->s, &opts, &res);
    if (rc && pr.progress && pr.drawn) printf("\r\033[K");
    if (rc) snprintf(err, len, "%s", j->ctx.err);
    /* the folder this run wrote (none if it stopped before taking one) */
    if (rank0 && res.run_dir[0] && (rc == 0 || res.steps > 0)) report_folder(res.run_dir, rc);
    if (rc) return j->s.broken ? -2 : 1;
    /* a rank stopped by another's signal exits as if it had had SIGTERM; a
     * signal after the last step (while the plot was drawn) still makes it
     * an interrupted run */
    int sig = (int)*cli_interrupt();
    return res.interrupted || sig ? 128 + (sig ? sig : SIGTERM) : 0;
}

/* One process, or one rank of `mpirun -np N graphrun train`: every rank
 * opens the job and trains; rank 0 alone prints, a failure once, naming
 * the rank that failed first. */
static int cmd_train(struct cli *o) {
    struct gr_dist dist;
    char err[GR_ERRBUF];
    if (gr_dist_open(&dist, err, sizeof err)) {
        if (err[0]) fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct job j;
    int rc = cli_load_job(&j, o, 0, err, sizeof err);
    if (gr_dist_agree(&dist, rc ? GR_DIST_FAILED : GR_DIST_OK, err, sizeof err)) rc = 1;
    else rc = train(o, &j, &dist, err, sizeof err);
    if (rc == -2 || (rc == 1 && gr_dist_rank(&dist) == 0)) fprintf(stderr, "%s\n", err);
    cli_close_job(&j);
    if (rc == -2) gr_dist_abort(&dist, 1); /* the ranks cannot agree any more */
    gr_dist_close(&dist);
    return rc < 0 ? 1 : rc;
}

const struct command gr_cmd_train = {"train", cmd_train,
    "usage: graphrun train CONFIG [--set PATH=VALUE | --unset PATH]... [--threads N]\n"
     "                     [--resume CKPT] [--run-dir DIR | --no-run-dir] [--quiet]\n"
     "\n"
     "Build the graph declared in CONFIG and train it. Every eval.every steps it\n"
     "prints 'train loss: L | test accuracy: A' (accuracy on the first\n"
     "eval.samples test images, or validation ones: eval.on; their loss goes to\n"
     "the metrics files; '| lr: R'\n"
     "too when a schedule changes the rate); at the end, the accuracy on the whole\n"
     "test set (and, with early stopping, that of the best weights) and the wall\n"
     "time. On a terminal a progress line is redrawn in place; otherwise (pipes,\n"
     "CI) only those lines are printed.\n"
     "\n"
     "Each run writes a folder (runs/<config>-<date>-<time> by default, with -2,\n"
     "-3, ... when taken; the path is printed; one run at a time may use a\n"
     "folder) holding config.yaml (the effective config), metrics.csv and\n"
     "metrics.jsonl (step, epoch, loss, eval accuracy and loss, learning rate,\n"
     "gradient norm, wall time), checkpoint.safetensors (unless\n"
     "train.checkpoint.path says elsewhere), best.safetensors beside it with early\n"
     "stopping, target.json with a target, and plot.png (loss and accuracy, drawn\n"
     "by gnuplot).\n"
     "\n"
     "options:\n"
     "  --set PATH=VALUE   change the config before it is checked (repeatable)\n"
     "  --threads N        threads for kernels and BLAS (0: one per CPU this process\n"
     "                     may use; default: the config's train.threads, else 0)\n"
     "  --resume CKPT      continue from a checkpoint; a checkpoint inside a run\n"
     "                     folder continues that folder\n"
     "  --run-dir DIR      write the run folder here (a folder that holds a run's\n"
     "                     files already is refused, unless --resume continues it)\n"
     "  --no-run-dir       write no run folder\n"
     "  --quiet            print only the result\n"
     "\n"
     "Under mpirun (mpirun -np N graphrun train CONFIG) the ranks train one model,\n"
     "each taking a part of every batch; rank 0 alone prints and writes, and\n"
     "--threads counts a rank's threads (default: the host's cores shared among\n"
     "its ranks). See docs/distributed.md.\n"
     "\n"
     "A checkpoint is written at the end, every train.checkpoint.every steps, and\n"
     "on SIGINT or SIGTERM (then graphrun exits with 130 or 143; a second signal\n"
     "stops it at once). A run resumed with the same config and thread count\n"
     "prints the same losses as one never stopped.\n",
    "--set --unset --threads --resume --run-dir --no-run-dir --quiet", 1, 1};
