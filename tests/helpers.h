/* Test helpers: build a graph from a YAML node list and run one node. */
#ifndef GR_TEST_HELPERS_H
#define GR_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "models/builder.h"
#include "models/init.h"
#include "models/open.h"
#include "runtime/base/ctx.h"
#include "runtime/optim/optimizer.h"
#include "runtime/host/host.h"
#include "runtime/engine/graph.h"
#include "runtime/engine/harness.h"
#include "runtime/yaml/yaml.h"

struct tgraph {
    struct gr_ctx ctx;
    struct gr_ydoc doc;
    struct gr_graph g;
};

/* Parse `yaml` (a list of nodes) and build it at `batch`. Returns 0, or -1
 * with the message in t->ctx.err. The context is set up either way. */
int tg_build(struct tgraph *t, const char *yaml, int64_t batch);
void tg_free(struct tgraph *t);
/* Index of node `name`; asserts it exists. */
int tg_node(struct tgraph *t, const char *name);

/* Copy `n` floats into harness input k. */
void tg_set(struct gr_harness *h, int k, const float *v, int64_t n);

/* A config for the reference model on the first 2000 training and 1000 test
 * MNIST images: `units` LSTM units, `train_extra` appended inside the train
 * mapping (e.g. "checkpoint: {path: x}"), `optimizer` the optimizer mapping. */
void tg_small_config(char *buf, size_t len, int units, int steps, const char *optimizer, const char *train_extra,
                     int eval_every);

/* The reference model's graph section as YAML; one %d: the LSTM's units. */
#define TG_MNIST_GRAPH                                                         \
    "graph:\n"                                                                 \
    "  - {name: image, op: input, data: images, shape: [784]}\n"               \
    "  - {name: label, op: input, data: labels}\n"                             \
    "  - {name: rows, op: reshape, inputs: [image], shape: [28, 28]}\n"        \
    "  - {name: lstm, op: lstm, inputs: [rows], num_units: %d}\n"              \
    "  - {name: last, op: slice, inputs: [lstm], axis: 1, index: -1}\n"        \
    "  - {name: logits, op: dense, inputs: [last], units: 10}\n"               \
    "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n"

/* Make a fresh folder /tmp/graphrun-TAG-XXXXXX into buf (asserts). */
void tg_tmpdir(char *buf, size_t len, const char *tag);
/* Remove a folder and everything in it (asserts). */
void tg_rmtree(const char *dir);

/* Run a shell command built from fmt; its standard output (add 2>&1 for
 * errors too) into *out (malloc'd, NUL-terminated; NULL: discarded).
 * Returns the exit status, or -1 if a signal ended it. */
int tg_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A whole file, malloc'd and NUL-terminated (its length in *len if not
 * NULL), or NULL if it cannot be read. */
char *tg_slurp(const char *path, size_t *len);
/* A checkpoint's tensors (the bytes after its header, whose metadata holds
 * times), read whole and malloc'd, their length in *len; NULL if unreadable. */
char *tg_tensor_bytes(const char *path, size_t *len);
/* The command (the CPU's own OpenBLAS kernels) trains `config`, found in
 * the source tree's `dir`, for 3 steps on `threads` threads with the
 * overrides `sets`, its run in tmp/t<threads>; returns the checkpoint's
 * tensors as tg_tensor_bytes (asserts the run and the read). */
char *tg_train_tensors(const char *tmp, const char *dir, const char *config, int threads, const char *sets,
                       size_t *len);

/* The one array of a data file (IDX, npy), read through the readers:
 * malloc'd, its stored bytes in *len (asserts). */
void *tg_read_array(const char *path, size_t *len);

/* Path of a data file under the source tree's data/mnist. */
const char *tg_mnist(const char *file);

/* A built-in optimizer by name with learning rate lr, its keys at their
 * defaults but for the (name, value) pairs that follow, ended by NULL. */
void tg_optim(struct gr_optim_cfg *cfg, const char *name, double lr, ...);

/* graphrun run as a child process, what it printed captured. */
struct tg_proc {
    int status;      /* exit status, or -1 after a signal */
    int signal;      /* the signal, if one ended it */
    char *out, *err; /* what it printed (NULL if stdout went elsewhere) */
};
/* argv are graphrun's arguments. In `cwd` (NULL: here), with `env`
 * (NULL-terminated "K=V" list, or NULL) added, stdout to `stdout_to` (NULL:
 * captured); the captures go through files in the folder tmp. */
void tg_run_full(const char *tmp, struct tg_proc *p, const char *cwd, const char *const *env, const char *stdout_to,
                 const char *const *argv);
void tg_run(const char *tmp, struct tg_proc *p, const char *cwd, const char *const *argv);
void tg_proc_free(struct tg_proc *p);
int tg_count_lines(const char *s);
/* exit status 1 and exactly one line on stderr holding `want` */
void tg_expect_one_line(const struct tg_proc *p, const char *want, const char *what);
void tg_write_text(const char *path, const char *text);
/* An IDX file of unsigned bytes: dims[0..rank), then prod(dims) bytes. */
void tg_write_idx(const char *path, int rank, const uint32_t *dims, const uint8_t *data);
/* A .npy file as np.save lays it out: descr ("<f4", "|u1", "<i8"), shape
 * as numpy writes it ("(20, 4, 4)"), then `bytes` bytes of data. */
void tg_write_npy(const char *path, const char *descr, const char *shape, const void *data, size_t bytes);
/* tg_small_config written to `path`: 16 LSTM units, Adam at 0.01. */
void tg_small_config_file(const char *path, int steps, int eval_every, const char *train_extra);
void tg_sleep_ms(long ms);
/* graphrun started in the background in `cwd` (NULL: here), stdout and
 * stderr to the files out and err; tg_wait_status waits for it and returns
 * its exit status, or 128 + the signal that ended it. */
pid_t tg_start(const char *cwd, const char *const *argv, const char *out, const char *err);
int tg_wait_status(pid_t pid);
int tg_exists(const char *path);

/* One op on a harness: its output against values within 1e-6, its shape;
 * `yaml` built at `batch` with a harness on node "y", and freed. */
void tg_expect_out(const struct gr_harness *h, const float *want, int64_t n);
void tg_expect_shape(const struct gr_harness *h, int rank, const int64_t *dims);
void tg_op_setup(struct tgraph *t, struct gr_harness *h, const char *yaml, int64_t batch);
void tg_op_teardown(struct tgraph *t, struct gr_harness *h);
/* The node "y" of `yaml` at `batch` on `threads` threads, in training: its
 * inputs and output gradient drawn uniform in [-0.5, 0.5) from `seed` (the
 * inputs in order, then dy), forward and backward run. */
void tg_op_run_random(struct tgraph *t, struct gr_harness *h, const char *yaml, int64_t batch, int threads,
                      uint64_t seed);

/* A short run of the default config into tmp/run with checkpoints every 100
 * steps and `extra` arguments; returns its output. One thread: Criterion
 * runs two tests at once on two cores. */
char *tg_short_run(const char *tmp, int steps, const char *extra);

/* Run graphrun with args (NULL-terminated, without the program), stdout to
 * the file `out`; kill -9 it after `kill_ms` milliseconds (< 0: never).
 * Returns the wait status. */
int tg_run_killed(const char *const *args, const char *out, int kill_ms);
/* Kill-and-resume, timed to the machine: `graphrun train CFG --threads 2
 * --no-run-dir` of `steps` steps (its config checkpointing to `ckpt`) runs
 * unbroken, timed, its loss lines into `straight` (its last checkpoint
 * renamed to `keep` unless NULL, else removed); then it runs again, killed
 * with SIGKILL up to six times at random moments and resumed from `ckpt`
 * until it finishes, its lines into `joined` (of each killed run, those the
 * checkpoint on disk covers). A kill lands after a tenth of the unbroken
 * run's time (its start) and within the first half of the time the steps
 * left take, however fast the machine and its kernels are; if fewer than 3
 * kills land, it starts over from nothing with kills sooner (twice at most).
 * `step_of(ckpt, arg)` loads the checkpoint (the test's checks) and returns
 * its step. Files go to `dir`. Returns the kills that landed. */
int tg_kill_and_resume(const char *cfg, const char *ckpt, int64_t steps, const char *dir, const char *keep,
                       unsigned seed, int64_t (*step_of)(const char *ckpt, void *arg), void *arg, char *straight,
                       char *joined, size_t len);
/* The "train loss" lines of a file, concatenated into buf; their length. */
size_t tg_loss_lines(const char *file, char *buf, size_t len);

/* An LSTM's inputs for the fused kernels' tests: x [rows, in] with many
 * exact zeros, whole rows of them too (as MNIST's blank rows), the kernel
 * [in + units, 4 units] in [-0.3, 0.3), the bias [4 units] in [-0.5, 0.5). */
struct gr_rng;
void tg_lstm_inputs(struct gr_rng *rng, int64_t rows, int64_t in, int64_t units, float *x, float *w, float *bias);

#endif
