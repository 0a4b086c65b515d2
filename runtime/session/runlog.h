/* The run folder a training run writes: config.yaml (the effective config,
 * paths absolute), metrics.csv and metrics.jsonl (a row every
 * train.log_every steps with the mean loss since the last row, the
 * evaluation's accuracy and loss at evaluations, the learning rate, the
 * mean gradient norm and the wall time), and the lock that keeps a second
 * run out. On resume the metrics files are trimmed back to
 * the checkpoint's step. Every write is checked at once, while errno still
 * says why. */
#ifndef GR_SESSION_RUNLOG_H
#define GR_SESSION_RUNLOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct gr_ctx;
struct gr_config;

/* The metrics files, with their stdio buffers here so that no write during
 * training makes stdio allocate one, and the run folder's lock. */
struct gr_runlog {
    FILE *csv, *jsonl;
    const char *dir;
    int lock_fd;
    char csv_buf[BUFSIZ], jsonl_buf[BUFSIZ];
};

/* The folder: `dir` itself, or with `fresh` a folder that did not exist
 * (dir, dir-2, dir-3, ... each made with mkdir, which only one of two
 * racing runs can win); the name used goes to out. */
int gr_runlog_make_dir(struct gr_ctx *ctx, const char *dir, int fresh, char *out, size_t len);
/* Lock the folder, write config.yaml (unless it is the config being read),
 * open the metrics files. resumed_at < 0: a new run, refused if the
 * folder holds a run's files already; else a resume from that step of the
 * checkpoint resumed_from, refused if the folder holds another run's files
 * (the checkpoint neither lies in it nor is the config's checkpoint), whose
 * metrics files are trimmed to it when it is above 0 and they exist. */
int gr_runlog_open(struct gr_ctx *ctx, struct gr_runlog *rl, const struct gr_config *cfg, const char *dir,
                   int64_t resumed_at, const char *resumed_from);
/* One metrics row: step,epoch,loss,eval_accuracy,eval_loss,lr,grad_norm,wall_time */
struct gr_metrics_row {
    int64_t step;
    double epoch, loss;     /* loss: the mean of the steps since the last row */
    double eval_accuracy, eval_loss;
    int has_eval_accuracy, has_eval_loss; /* at evaluations only */
    double lr;              /* the last step's rate */
    double grad_norm;       /* the mean global gradient norm (before clipping) since the last row */
    double wall;            /* seconds since the run's first step */
};
/* One row (empty fields, or null in JSON, where there was no evaluation);
 * flushed at evaluations. A closed log (rl->csv NULL) takes nothing. */
int gr_runlog_row(struct gr_ctx *ctx, struct gr_runlog *rl, const struct gr_metrics_row *row);
/* Everything written so far handed to the system (before a checkpoint). */
int gr_runlog_flush(struct gr_ctx *ctx, struct gr_runlog *rl);
/* Close the files and release the lock; with `report`, a failed last
 * write is an error. */
int gr_runlog_close(struct gr_ctx *ctx, struct gr_runlog *rl, int report);

/* Rewrite a run folder's metrics file `path` (CSV, or JSON lines if json)
 * to hold its header and its complete rows up to step `last`, as a resumed
 * run starts; atomically (a temporary file renamed over it). */
int gr_metrics_trim(struct gr_ctx *ctx, const char *path, int64_t last, int json);

#endif
