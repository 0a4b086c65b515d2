#include "helpers.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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
