/* realpath() */
#define _XOPEN_SOURCE 700

#include "runtime/session/runlog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/ctx.h"
#include "runtime/base/fs.h"
#include "runtime/config/config.h"

static const char csv_header[] = "step,epoch,loss,eval_accuracy,eval_loss,lr,grad_norm,wall_time\n";
#define CSV_COMMAS 7

/* The step of a complete metrics row (its text without the newline), or
 * -1 if the line is not one: CSV, the first of eight fields; JSON lines, the
 * "step" member of an object. */
static int64_t row_step(const char *line, size_t n, int json) {
    if (json) {
        json_t *row = json_loadb(line, n, JSON_REJECT_DUPLICATES, NULL);
        json_t *step = json_object_get(row, "step");
        int64_t v = json_is_integer(step) ? (int64_t)json_integer_value(step) : -1;
        json_decref(row);
        return v;
    }
    int commas = 0;
    for (size_t i = 0; i < n; i++) commas += line[i] == ',';
    if (commas != CSV_COMMAS) return -1;
    int64_t v = 0;
    size_t i = 0;
    for (; i < n && line[i] >= '0' && line[i] <= '9' && v < INT64_MAX / 10 - 9; i++) v = v * 10 + (line[i] - '0');
    return i > 0 && i < n && line[i] == ',' ? v : -1;
}

/* When a run resumes in its folder: keep the CSV header (written again if
 * a crash lost it) and the complete rows up to step `last`, in increasing
 * order; drop rows past the checkpoint (they will come again), a line cut
 * short by a crash, and anything else that is not a row. */
int gr_metrics_trim(struct gr_ctx *ctx, const char *path, int64_t last, int json) {
    char *text;
    size_t len, kept = 0;
    if (gr_read_text_file(ctx, path, (size_t)1 << 30, &text, &len)) return -1;
    int64_t prev = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        if (!nl) break; /* the last line, cut short */
        size_t n = (size_t)(nl - (text + at));
        int64_t step = row_step(text + at, n, json);
        if (step > prev && step <= last) {
            memmove(text + kept, text + at, n + 1);
            kept += n + 1;
            prev = step;
        }
        at += n + 1;
    }
    int rc = gr_replace_file(ctx, path, json ? "" : csv_header, text, kept);
    gr_free(ctx, text);
    return rc;
}


/* The run folder: `dir` itself, or with `fresh`, a folder that did not
 * exist: dir, dir-2, dir-3, ... each made with mkdir, which only one of
 * two racing runs can win. The name used goes to out. */
int gr_runlog_make_dir(struct gr_ctx *ctx, const char *dir, int fresh, char *out, size_t len) {
    if (snprintf(out, len, "%s", dir) >= (int)len - 8) return gr_fail(ctx, "%s: path too long", dir);
    if (!fresh) return gr_mkdirs(ctx, out);
    char *slash = strrchr(out, '/');
    if (slash && slash != out) {
        *slash = 0;
        int rc = gr_mkdirs(ctx, out);
        *slash = '/';
        if (rc) return -1;
    }
    for (int k = 2; mkdir(out, 0755) != 0; k++) {
        if (errno != EEXIST || k > 1000) return gr_fail(ctx, "%s: cannot create: %s", out, strerror(errno));
        snprintf(out, len, "%s-%d", dir, k);
    }
    return 0;
}

/* One run at a time in a folder: a write lock on RUN/.lock, held until
 * close_run (the kernel drops it if the process dies). */
static int lock_run_dir(struct gr_ctx *ctx, const char *dir, int *fd_out) {
    char path[4300];
    snprintf(path, sizeof path, "%s/.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return gr_fail(ctx, "%s: cannot create the run folder's lock: %s", path, strerror(errno));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        int e = errno;
        struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        int known = fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK;
        close(fd);
        if (e != EACCES && e != EAGAIN) return gr_fail(ctx, "%s: cannot lock: %s", path, strerror(e));
        if (known)
            return gr_fail(ctx, "%s: the run folder is in use by another graphrun run (process %ld); wait for it or "
                                "choose another folder", dir, (long)who.l_pid);
        return gr_fail(ctx, "%s: the run folder is in use by another graphrun run; wait for it or choose another folder",
                       dir);
    }
    *fd_out = fd;
    return 0;
}

/* The files a run leaves in its folder (tools/plot.c adds the plot). */
static const char *const run_files[] = {"config.yaml",      "metrics.csv", "metrics.jsonl", "checkpoint.safetensors",
                                        "best.safetensors", "target.json", "plot.png",      "plot.gp"};

/* What a write cut short leaves (a run killed mid-write, power lost):
 * "<file>.tmp.<6 hex digits>" beside one of the folder's files
 * (gr_open_output's temporaries, a checkpoint's size each). Removed by the
 * run that takes the folder, where no writer holds them (other processes
 * may write into the folder without its lock: a checkpoint path shared
 * between runs, an export). Other names are left alone. */
static void remove_leftovers(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        const char *tail = strstr(e->d_name, ".tmp.");
        if (!tail || strlen(tail) != 11 || strspn(tail + 5, "0123456789abcdef") != 6) continue;
        size_t stem = (size_t)(tail - e->d_name);
        int ours = 0;
        for (size_t i = 0; i < sizeof run_files / sizeof run_files[0]; i++)
            ours |= strlen(run_files[i]) == stem && strncmp(e->d_name, run_files[i], stem) == 0;
        if (ours) gr_remove_abandoned(dirfd(d), e->d_name);
    }
    closedir(d);
}

/* A new run does not take a folder that holds another run's files: it
 * would write its config, rows and checkpoints over them. Only a run that
 * resumes continues a folder. Checked under the lock, so that a run
 * that held the folder until a moment ago is seen. */
/* The run files `dir` holds, listed into held ("config.yaml, metrics.csv");
 * returns how many, *ckpt whether checkpoint.safetensors is one. */
static int run_files_in(const char *dir, char *held, size_t len, int *ckpt) {
    char path[4300];
    size_t n = 0;
    int count = 0;
    held[0] = 0;
    *ckpt = 0;
    for (size_t i = 0; i < sizeof run_files / sizeof run_files[0]; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, run_files[i]);
        if (lstat(path, &st) != 0) continue;
        n += (size_t)snprintf(held + n, len - n, "%s%s", n ? ", " : "", run_files[i]);
        count++;
        *ckpt |= strcmp(run_files[i], "checkpoint.safetensors") == 0;
    }
    return count;
}

static int check_unused(struct gr_ctx *ctx, const char *dir) {
    char held[256];
    int has_ckpt;
    if (!run_files_in(dir, held, sizeof held, &has_ckpt)) return 0;
    if (has_ckpt)
        return gr_fail(ctx, "%s: the run folder already holds a run (%s); continue it with --resume "
                            "%s/checkpoint.safetensors, or choose another folder", dir, held, dir);
    return gr_fail(ctx, "%s: the run folder already holds a run (%s); choose another folder, or remove those files",
                   dir, held);
}

/* The folder `path` lies in, by its text, or with `resolve` where its
 * target lies (a link to a checkpoint kept elsewhere), into dir. */
static void folder_of(const char *path, int resolve, char *dir, size_t len) {
    char real[PATH_MAX];
    snprintf(dir, len, "%s", resolve && realpath(path, real) ? real : path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = 0;
    else if (slash) *slash = 0;
    else snprintf(dir, len, ".");
}

/* Whether a and b are one file or folder. */
static int same_file(const char *a, const char *b) {
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* A resume takes the folder of the run it continues: the one its
 * checkpoint's path names or its target lies in; or, where the checkpoint
 * is the config's train.checkpoint.path or the best.safetensors written
 * beside it, any folder. Another run's folder it refuses, as a new run
 * does (check_unused): it would trim that run's metrics to the resumed
 * step, mix in the resumed run's rows and replace its checkpoint and
 * config. */
static int check_resumable(struct gr_ctx *ctx, const struct gr_config *cfg, const char *dir, const char *from) {
    char held[256], named[4300], target[4300], best[4400];
    int has_ckpt;
    folder_of(from, 0, named, sizeof named);
    folder_of(from, 1, target, sizeof target);
    if (cfg->checkpoint) {
        folder_of(cfg->checkpoint, 0, best, sizeof best);
        size_t n = strlen(best);
        snprintf(best + n, sizeof best - n, "/best.safetensors");
    }
    int the_configs = cfg->checkpoint && (same_file(from, cfg->checkpoint) || same_file(from, best));
    if (same_file(named, dir) || same_file(target, dir) || the_configs ||
        !run_files_in(dir, held, sizeof held, &has_ckpt))
        return 0;
    return gr_fail(ctx, "%s: the run folder holds another run (%s); --resume %s continues the run whose folder holds "
                        "that checkpoint: give that folder, or one that holds no run", dir, held, from);
}

/* The effective config as the folder's config.yaml, unless that file is the
 * config this run reads (`train RUN/config.yaml --resume ...`): the user's
 * own text, comments and all, is kept; the checkpoint holds the config. */
static int write_config_file(struct gr_ctx *ctx, const struct gr_config *cfg, const char *dir) {
    char path[4300];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    struct stat mine, theirs;
    if (cfg->path && stat(cfg->path, &theirs) == 0 && stat(path, &mine) == 0 && mine.st_dev == theirs.st_dev &&
        mine.st_ino == theirs.st_ino)
        return 0;
    const char *text = cfg->run_text ? cfg->run_text : "";
    return gr_replace_file(ctx, path, "", text, strlen(text));
}

int gr_runlog_open(struct gr_ctx *ctx, struct gr_runlog *rl, const struct gr_config *cfg, const char *dir,
                   int64_t resumed_at, const char *resumed_from) {
    char path[4300];
    rl->dir = dir;
    if (lock_run_dir(ctx, dir, &rl->lock_fd)) return -1;
    if (resumed_at < 0 ? check_unused(ctx, dir) : check_resumable(ctx, cfg, dir, resumed_from)) return -1;
    remove_leftovers(dir);
    if (write_config_file(ctx, cfg, dir)) return -1;
    const char *names[2] = {"metrics.csv", "metrics.jsonl"};
    FILE **files[2] = {&rl->csv, &rl->jsonl};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        struct stat st;
        int keep = resumed_at > 0 && stat(path, &st) == 0;
        if (keep && gr_metrics_trim(ctx, path, resumed_at, k)) return -1;
        *files[k] = fopen(path, keep ? "a" : "w");
        if (!*files[k]) return gr_fail(ctx, "%s: cannot write: %s", path, strerror(errno));
        setvbuf(*files[k], k == 0 ? rl->csv_buf : rl->jsonl_buf, _IOFBF, BUFSIZ);
        if (k == 0 && !keep && fputs(csv_header, rl->csv) == EOF)
            return gr_fail(ctx, "%s: write failed: %s", path, strerror(errno));
    }
    return 0;
}

/* A failed write to a metrics file: its name and errno's text. */
static int run_write_failed(struct gr_ctx *ctx, const struct gr_runlog *rl, int json) {
    int e = errno ? errno : EIO;
    return gr_fail(ctx, "%s/%s: write failed: %s", rl->dir, json ? "metrics.jsonl" : "metrics.csv", strerror(e));
}

/* Everything written so far handed to the system: before a checkpoint,
 * so that a checkpoint on disk always has its rows on disk too. */
int gr_runlog_flush(struct gr_ctx *ctx, struct gr_runlog *rl) {
    if (!rl->csv) return 0;
    errno = 0;
    if (fflush(rl->csv) != 0 || ferror(rl->csv)) return run_write_failed(ctx, rl, 0);
    errno = 0;
    if (fflush(rl->jsonl) != 0 || ferror(rl->jsonl)) return run_write_failed(ctx, rl, 1);
    return 0;
}

/* A number for a row, or "" (CSV) / "null" (JSON) when absent or not finite. */
static const char *field(char *buf, size_t len, double v, int has, const char *fmt, int json) {
    if (has && isfinite(v)) snprintf(buf, len, fmt, v);
    else snprintf(buf, len, "%s", json ? "null" : "");
    return buf;
}

int gr_runlog_row(struct gr_ctx *ctx, struct gr_runlog *rl, const struct gr_metrics_row *r) {
    if (!rl->csv) return 0;
    char acc[32], loss[32], norm[32];
    errno = 0;
    /* stdio may count a row written though the flush it caused failed:
     * the error flag is checked at once, while errno still says why */
    if (fprintf(rl->csv, "%lld,%.5f,%.6f,%s,%s,%g,%s,%.3f\n", (long long)r->step, r->epoch, r->loss,
                field(acc, sizeof acc, r->eval_accuracy, r->has_eval_accuracy, "%.6f", 0),
                field(loss, sizeof loss, r->eval_loss, r->has_eval_loss, "%.6f", 0), r->lr,
                field(norm, sizeof norm, r->grad_norm, 1, "%.6g", 0), r->wall) < 0 ||
        ferror(rl->csv))
        return run_write_failed(ctx, rl, 0);
    if (fprintf(rl->jsonl,
                "{\"step\": %lld, \"epoch\": %.5f, \"loss\": %.6f, \"eval_accuracy\": %s, \"eval_loss\": %s, "
                "\"lr\": %g, \"grad_norm\": %s, \"wall_time\": %.3f}\n",
                (long long)r->step, r->epoch, r->loss,
                field(acc, sizeof acc, r->eval_accuracy, r->has_eval_accuracy, "%.6f", 1),
                field(loss, sizeof loss, r->eval_loss, r->has_eval_loss, "%.6f", 1), r->lr,
                field(norm, sizeof norm, r->grad_norm, 1, "%.6g", 1), r->wall) < 0 ||
        ferror(rl->jsonl))
        return run_write_failed(ctx, rl, 1);
    return r->has_eval_accuracy ? gr_runlog_flush(ctx, rl) : 0;
}

/* Closes the files and releases the lock; with `report`, a failed last
 * write is an error (else an earlier error is being reported). */
int gr_runlog_close(struct gr_ctx *ctx, struct gr_runlog *rl, int report) {
    int rc = 0;
    FILE *files[2] = {rl->csv, rl->jsonl};
    for (int k = 0; k < 2; k++) {
        errno = 0;
        int bad = files[k] && ferror(files[k]);
        if (files[k] && fclose(files[k]) != 0) bad = 1;
        if (bad && report && rc == 0) rc = run_write_failed(ctx, rl, k);
    }
    if (rl->lock_fd >= 0) close(rl->lock_fd);
    rl->csv = rl->jsonl = NULL;
    rl->lock_fd = -1;
    return rc;
}

