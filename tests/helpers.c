#include "helpers.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <time.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "runtime/data/reader.h"

int tg_build(struct tgraph *t, const char *yaml, int64_t batch) {
    memset(t, 0, sizeof *t);
    cr_assert_eq(gr_ctx_init(&t->ctx), 0, "context: %s", t->ctx.err);
    gr_graph_init(&t->g, &t->ctx, "test.yaml");
    if (gr_yaml_parse(&t->ctx, &t->doc, "test.yaml", yaml, strlen(yaml))) return -1;
    return gr_build_graph(&t->ctx, &t->g, "test.yaml", t->doc.root, batch);
}

void tg_free(struct tgraph *t) {
    gr_graph_free(&t->g);
    gr_yaml_free(&t->doc);
    gr_ctx_free(&t->ctx);
}

int tg_node(struct tgraph *t, const char *name) {
    int i = gr_graph_find(&t->g, name);
    cr_assert_geq(i, 0, "no node '%s'", name);
    return i;
}

void tg_set(struct gr_harness *h, int k, const float *v, int64_t n) {
    cr_assert_eq(gr_shape_count(&h->in[k].shape), n, "input %d holds %lld values, test gives %lld", k,
                 (long long)gr_shape_count(&h->in[k].shape), (long long)n);
    memcpy(h->in[k].data, v, (size_t)n * sizeof(float));
}

const char *tg_mnist(const char *file) {
    static char path[1024]; /* test-only convenience: one path in use at a time */
    snprintf(path, sizeof path, "%s/data/mnist/%s", GR_SOURCE_DIR, file);
    return path;
}

void tg_small_config(char *buf, size_t len, int units, int steps, const char *optimizer, const char *train_extra,
                     int eval_every) {
    snprintf(buf, len,
             "data:\n"
             "  train: {images: %s/data/mnist/train-images-idx3-ubyte, labels: %s/data/mnist/train-labels-idx1-ubyte,"
             " limit: 2000}\n"
             "  test: {images: %s/data/mnist/t10k-images-idx3-ubyte, labels: %s/data/mnist/t10k-labels-idx1-ubyte,"
             " limit: 1000}\n"
             TG_MNIST_GRAPH
             "train: {loss: loss, optimizer: %s, batch_size: 32, steps: %d, seed: 7%s%s}\n"
             "eval: {logits: logits, every: %d, samples: 200, batch_size: 200}\n",
             GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, units, optimizer, steps,
             train_extra ? ", " : "", train_extra ? train_extra : "", eval_every);
}

void tg_tmpdir(char *buf, size_t len, const char *tag) {
    snprintf(buf, len, "/tmp/graphrun-%s-XXXXXX", tag);
    cr_assert_not_null(mkdtemp(buf), "mkdtemp %s", buf);
}

void tg_rmtree(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* Everything left in f, malloc'd and NUL-terminated. */
static char *read_all(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 4096) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int tg_sh(char **out, const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "cannot run %s", cmd);
    char *buf = read_all(p, NULL);
    int status = pclose(p);
    if (out) *out = buf;
    else free(buf);
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *tg_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = read_all(f, len);
    fclose(f);
    return buf;
}

char *tg_tensor_bytes(const char *path, size_t *len) {
    size_t n = 0;
    char *all = tg_slurp(path, &n);
    uint64_t head = 0;
    if (!all || n < 8) return free(all), NULL;
    for (int i = 7; i >= 0; i--) head = head << 8 | (unsigned char)all[i];
    if (head > n - 8) return free(all), NULL;
    *len = n - 8 - head;
    memmove(all, all + 8 + head, *len);
    return all;
}

char *tg_train_tensors(const char *tmp, const char *dir, const char *config, int threads, const char *sets,
                       size_t *len) {
    char *out = NULL;
    int st = tg_sh(&out, "cd %s/%s && %s/graphrun train %s --run-dir %s/t%d --quiet --threads %d %s "
                         "--set train.steps=3 2>&1",
                   GR_SOURCE_DIR, dir, GR_BUILD_DIR, config, tmp, threads, threads, sets);
    cr_assert_eq(st, 0, "graphrun train: %s", out ? out : "");
    free(out);
    char path[512];
    snprintf(path, sizeof path, "%s/t%d/checkpoint.safetensors", tmp, threads);
    char *ck = tg_tensor_bytes(path, len);
    cr_assert(ck, "no checkpoint at %s", path);
    return ck;
}

void tg_optim(struct gr_optim_cfg *cfg, const char *name, double lr, ...) {
    const struct gr_optim_desc *d = NULL;
    for (int i = 0; i < gr_optim_builtin_count; i++)
        if (strcmp(gr_optim_builtin[i]->name, name) == 0) d = gr_optim_builtin[i];
    cr_assert(d, "no built-in optimizer '%s'", name);
    gr_optim_cfg_defaults(cfg, d, lr);
    va_list ap;
    va_start(ap, lr);
    for (const char *key; (key = va_arg(ap, const char *));) {
        double v = va_arg(ap, double);
        int k = 0;
        while (k < d->n_keys && strcmp(d->keys[k].name, key) != 0) k++;
        cr_assert(k < d->n_keys, "optimizer '%s' has no key '%s'", name, key);
        cfg->hp[k] = v;
    }
    va_end(ap);
}

/* ---- running the command ---------------------------------------------------- */

/* argv[0] is graphrun's first argument. In `cwd` (NULL: here), with `env`
 * (NULL-terminated "K=V" list, or NULL) added, stdout to `stdout_to` (NULL:
 * captured). */
void tg_run_full(const char *tmp, struct tg_proc *p, const char *cwd, const char *const *env, const char *stdout_to,
                 const char *const *argv) {
    char outf[128], errf[128];
    snprintf(outf, sizeof outf, "%s/.stdout", tmp);
    snprintf(errf, sizeof errf, "%s/.stderr", tmp);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (cwd && chdir(cwd) != 0) _exit(126);
        int o = open(stdout_to ? stdout_to : outf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0) _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        for (int i = 0; env && env[i]; i++) {
            char kv[512];
            snprintf(kv, sizeof kv, "%s", env[i]);
            char *eq = strchr(kv, '=');
            if (!eq) _exit(126);
            *eq = 0;
            setenv(kv, eq + 1, 1);
        }
        const char *args[64];
        int n = 0;
        args[n++] = GR_BUILD_DIR "/graphrun";
        for (int i = 0; argv[i] && n < 63; i++) args[n++] = argv[i];
        args[n] = NULL;
        execv(GR_BUILD_DIR "/graphrun", (char *const *)args);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    p->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    p->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    p->out = stdout_to ? NULL : tg_slurp(outf, NULL);
    p->err = tg_slurp(errf, NULL);
    cr_assert(p->err && (stdout_to || p->out));
}

void tg_run(const char *tmp, struct tg_proc *p, const char *cwd, const char *const *argv) {
    tg_run_full(tmp, p, cwd, NULL, NULL, argv);
}

void tg_proc_free(struct tg_proc *p) {
    free(p->out);
    free(p->err);
}

int tg_count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* exit status 1 and exactly one line on stderr holding `want` */
void tg_expect_one_line(const struct tg_proc *p, const char *want, const char *what) {
    cr_expect_eq(p->status, 1, "%s: exit status %d (signal %d), stderr: %s", what, p->status, p->signal, p->err);
    size_t n = strlen(p->err);
    cr_expect(tg_count_lines(p->err) == 1 && n > 0 && p->err[n - 1] == '\n', "%s: not one line on stderr: %s", what,
              p->err);
    cr_expect(strstr(p->err, want), "%s: expected '%s' in: %s", what, want, p->err);
}

void tg_write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

void tg_write_idx(const char *path, int rank, const uint32_t *dims, const uint8_t *data) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    uint8_t h[4] = {0, 0, 0x08, (uint8_t)rank};
    size_t n = 1;
    fwrite(h, 1, 4, f);
    for (int i = 0; i < rank; i++) {
        uint8_t d[4] = {(uint8_t)(dims[i] >> 24), (uint8_t)(dims[i] >> 16), (uint8_t)(dims[i] >> 8), (uint8_t)dims[i]};
        fwrite(d, 1, 4, f);
        n *= dims[i];
    }
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

void tg_write_npy(const char *path, const char *descr, const char *shape, const void *data, size_t bytes) {
    char header[256];
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    while ((10 + n + 1) % 64) header[n++] = ' '; /* padded so the data starts at a multiple of 64 */
    header[n++] = '\n';
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)n, (uint8_t)(n >> 8)};
    fwrite(pre, 1, 10, f);
    fwrite(header, 1, (size_t)n, f);
    cr_assert_eq(fwrite(data, 1, bytes, f), bytes);
    cr_assert_eq(fclose(f), 0);
}

/* A small config (16 LSTM units, 2000 training images) at `path`. */
void tg_small_config_file(const char *path, int steps, int eval_every, const char *train_extra) {
    char text[4096];
    tg_small_config(text, sizeof text, 16, steps, "{name: adam, lr: 0.01}", train_extra, eval_every);
    tg_write_text(path, text);
}

pid_t tg_start(const char *cwd, const char *const *argv, const char *out, const char *err) {
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (cwd && chdir(cwd) != 0) _exit(126);
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0) _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        const char *args[32] = {GR_BUILD_DIR "/graphrun"};
        for (int i = 0; argv[i] && i < 30; i++) args[i + 1] = argv[i];
        execv(GR_BUILD_DIR "/graphrun", (char *const *)args);
        _exit(127);
    }
    return pid;
}

int tg_wait_status(pid_t pid) {
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void tg_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int tg_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}


/* ---- running one op ------------------------------------------------------------ */

void tg_expect_out(const struct gr_harness *h, const float *want, int64_t n) {
    cr_assert_eq(gr_shape_count(&h->out.shape), n, "output holds %lld values, expected %lld",
                 (long long)gr_shape_count(&h->out.shape), (long long)n);
    const float *y = h->out.data;
    for (int64_t i = 0; i < n; i++)
        cr_expect_float_eq(y[i], want[i], 1e-6f, "out[%lld] = %.7g, expected %.7g", (long long)i, y[i], want[i]);
}

void tg_expect_shape(const struct gr_harness *h, int rank, const int64_t *dims) {
    cr_assert_eq(h->out.shape.rank, rank, "rank %d, expected %d", h->out.shape.rank, rank);
    for (int i = 0; i < rank; i++) cr_expect_eq(h->out.shape.dim[i], dims[i], "axis %d: %lld vs %lld", i,
                                                (long long)h->out.shape.dim[i], (long long)dims[i]);
}

/* Build `yaml` at batch `batch` and open a harness on node "y". */
void tg_op_setup(struct tgraph *t, struct gr_harness *h, const char *yaml, int64_t batch) {
    cr_assert_eq(tg_build(t, yaml, batch), 0, "%s", t->ctx.err);
    cr_assert_eq(gr_harness_init(h, &t->g, tg_node(t, "y"), 0), 0, "%s", t->ctx.err);
}

void tg_op_run_random(struct tgraph *t, struct gr_harness *h, const char *yaml, int64_t batch, int threads,
                      uint64_t seed) {
    cr_assert_eq(tg_build(t, yaml, batch), 0, "%s", t->ctx.err);
    cr_assert_eq(gr_ctx_set_threads(&t->ctx, threads), 0);
    cr_assert_eq(gr_harness_init(h, &t->g, tg_node(t, "y"), 1), 0, "%s", t->ctx.err);
    struct gr_rng rng;
    gr_rng_seed(&rng, seed);
    for (int k = 0; k < h->args.n_in; k++) {
        float *v = h->in[k].data;
        for (int64_t e = 0; e < gr_shape_count(&h->in[k].shape); e++) v[e] = gr_rng_uniform(&rng) - 0.5f;
    }
    float *dy = h->dout.data;
    for (int64_t e = 0; e < gr_shape_count(&h->dout.shape); e++) dy[e] = gr_rng_uniform(&rng) - 0.5f;
    gr_harness_forward(h);
    gr_harness_backward(h);
}

void tg_op_teardown(struct tgraph *t, struct gr_harness *h) {
    gr_harness_free(h);
    tg_free(t);
}


/* A short run of the default config into tmp/run; returns its stdout. One
 * thread: Criterion runs two tests at once on our two cores. */
char *tg_short_run(const char *tmp, int steps, const char *extra) {
    char *out;
    int rc = tg_sh(&out,
                "'%s' train '%s' --set train.steps=%d --set eval.every=100 --set train.checkpoint.every=100 "
                "--run-dir '%s/run' --threads 1 %s 2>&1",
                GR_BUILD_DIR "/graphrun", GR_SOURCE_DIR "/configs/lstm_mnist.yaml", steps, tmp, extra);
    cr_assert_eq(rc, 0, "the run failed:\n%s", out);
    return out;
}

/* Run graphrun with args, stdout to `out`; kill -9 it after `kill_ms` (< 0:
 * never). Returns the wait status. */
int tg_run_killed(const char *const *args, const char *out, int kill_ms) {
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        FILE *f = freopen(out, "w", stdout);
        (void)f;
        char *argv[16];
        int n = 0;
        argv[n++] = GR_BUILD_DIR "/graphrun";
        for (; args[n - 1]; n++) argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        execv(argv[0], argv);
        _exit(127);
    }
    if (kill_ms >= 0) {
        struct timespec ts = {kill_ms / 1000, (long)(kill_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
    }
    int status;
    waitpid(pid, &status, 0);
    return status;
}

int tg_kill_and_resume(const char *cfg, const char *ckpt, int64_t steps, const char *dir, const char *keep,
                       unsigned seed, int64_t (*step_of)(const char *ckpt, void *arg), void *arg, char *straight,
                       char *joined, size_t len) {
    char out[512];
    static char part[65536];
    const char *args_train[] = {"train", cfg, "--threads", "2", "--no-run-dir", NULL};
    const char *args_resume[] = {"train", cfg, "--threads", "2", "--no-run-dir", "--resume", ckpt, NULL};
    snprintf(out, sizeof out, "%s/straight.txt", dir);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int st = tg_run_killed(args_train, out, -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the unbroken run failed");
    cr_assert_gt(tg_loss_lines(out, straight, len), 0);
    if (keep) cr_assert_eq(rename(ckpt, keep), 0);
    int run_ms = (int)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
    int first_ms = run_ms / 10, span_ms = run_ms * 8 / 10 > 1 ? run_ms * 8 / 10 : 1, kills = 0;
    srand(seed);
    /* a machine that speeds up after the unbroken run was timed can finish
     * a run before its kill: start again from nothing, with kills sooner */
    for (int attempt = 0; attempt < 3 && kills < 3; attempt++, first_ms /= 2, span_ms = span_ms / 2 + 1) {
        kills = 0;
        remove(ckpt);
        int64_t done = 0; /* the step a resume starts from */
        joined[0] = 0;
        for (int round = 0; round < 14; round++) {
            snprintf(out, sizeof out, "%s/part%d.txt", dir, round);
            struct stat sb;
            int have = stat(ckpt, &sb) == 0;
            int window = (int)(span_ms * (steps - done) / steps / 2) + 1; /* the first half of what is left */
            st = tg_run_killed(have ? args_resume : args_train, out, kills < 6 ? first_ms + rand() % window : -1);
            tg_loss_lines(out, part, sizeof part);
            strncat(joined, part, len - strlen(joined) - 1);
            if (!WIFSIGNALED(st)) {
                cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "round %d ended with status %d", round, st);
                break;
            }
            kills++;
            done = stat(ckpt, &sb) == 0 ? step_of(ckpt, arg) : 0;
            cr_log_info("kill %d landed; the checkpoint on disk is from step %lld", kills, (long long)done);
            /* lines past the checkpoint's step are printed again on resume */
            char *p = joined;
            for (int64_t k = 0; k < done && *p; k++) p = strchr(p, '\n') + 1;
            *p = 0;
        }
    }
    return kills;
}

/* The "train loss" lines of a file, concatenated. */
size_t tg_loss_lines(const char *file, char *buf, size_t len) {
    FILE *f = fopen(file, "r");
    cr_assert(f, "%s", file);
    char line[256];
    size_t used = 0;
    buf[0] = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "train loss", 10) == 0 && used + strlen(line) < len) {
            strcpy(buf + used, line);
            used += strlen(line);
        }
    fclose(f);
    return used;
}

void *tg_read_array(const char *path, size_t *len) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_source src;
    cr_assert_eq(gr_source_open(&ctx, &src, path, NULL, NULL), 0, "%s", ctx.err);
    cr_assert_eq(src.n_arrays, 1, "%s: %d arrays", path, src.n_arrays);
    *len = gr_array_bytes(&src.arrays[0]);
    void *data = malloc(*len);
    cr_assert(data);
    cr_assert_eq(gr_source_read(&ctx, &src, 0, data, *len), 0, "%s", ctx.err);
    gr_source_close(&ctx, &src);
    gr_ctx_free(&ctx);
    return data;
}

void tg_lstm_inputs(struct gr_rng *rng, int64_t rows, int64_t in, int64_t units, float *x, float *w, float *bias) {
    for (int64_t r = 0; r < rows; r++) {
        int blank = gr_rng_uniform(rng) < 0.25;
        for (int64_t k = 0; k < in; k++)
            x[r * in + k] = blank || gr_rng_uniform(rng) < 0.5 ? 0.0f : (float)gr_rng_uniform(rng) * 2.0f - 1.0f;
    }
    for (int64_t k = 0; k < (in + units) * 4 * units; k++) w[k] = 0.6f * (float)gr_rng_uniform(rng) - 0.3f;
    for (int64_t k = 0; k < 4 * units; k++) bias[k] = (float)gr_rng_uniform(rng) - 0.5f;
}
