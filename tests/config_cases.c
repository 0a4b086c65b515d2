/* The config suites' fixture: a small valid config to break line by line,
 * and a tiny dataset in a temporary folder. */
#include "config_cases.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "runtime/config/config.h"

/* A small valid config; cases below replace one of its lines (1-based). */
const char *const cfg_base[] = {
    "data:",                                                                    /* 1 */
    "  train: {images: tr-img, labels: tr-lab}",                                /* 2 */
    "  test: {images: te-img, labels: te-lab}",                                 /* 3 */
    "graph:",                                                                   /* 4 */
    "  - {name: image, op: input, data: images, shape: [16]}",                  /* 5 */
    "  - {name: label, op: input, data: labels}",                               /* 6 */
    "  - {name: rows, op: reshape, inputs: [image], shape: [4, 4]}",            /* 7 */
    "  - {name: lstm, op: lstm, inputs: [rows], num_units: 8}",                 /* 8 */
    "  - {name: last, op: slice, inputs: [lstm], axis: 1, index: -1}",          /* 9 */
    "  - {name: logits, op: dense, inputs: [last], units: 3}",                  /* 10 */
    "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}",     /* 11 */
    "train:",                                                                   /* 12 */
    "  loss: loss",                                                             /* 13 */
    "  optimizer: {name: adam, lr: 0.01}",                                      /* 14 */
    "  batch_size: 4",                                                          /* 15 */
    "  steps: 10",                                                              /* 16 */
    "eval: {logits: logits, every: 5, samples: 8, batch_size: 4}",              /* 17 */
};
const int cfg_n_base = (int)(sizeof cfg_base / sizeof cfg_base[0]);

/* The base config with line `line` replaced by `text` (NULL: the base). */
void with_lines(char *out, size_t len, int line, const char *text, int line2, const char *text2) {
    size_t used = 0;
    for (int i = 0; i < cfg_n_base; i++) {
        const char *l = cfg_base[i];
        if (i + 1 == line && text) l = text;
        if (i + 1 == line2 && text2) l = text2;
        used += (size_t)snprintf(out + used, len - used, "%s\n", l);
    }
}

void with_line(char *out, size_t len, int line, const char *text) {
    with_lines(out, len, line, text, 0, NULL);
}

/* A temporary folder holding a tiny dataset: 20 training and 10 test 4x4
 * images with labels 0..2. */
char tmpdir[64];

static void write_idx(const char *name, int rank, const uint32_t *dims, const uint8_t *data, size_t n) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    uint8_t h[4] = {0, 0, 0x08, (uint8_t)rank};
    fwrite(h, 1, 4, f);
    for (int i = 0; i < rank; i++) {
        uint8_t d[4] = {(uint8_t)(dims[i] >> 24), (uint8_t)(dims[i] >> 16), (uint8_t)(dims[i] >> 8), (uint8_t)dims[i]};
        fwrite(d, 1, 4, f);
    }
    fwrite(data, 1, n, f);
    fclose(f);
}

void make_data(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/graphrun-test-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    uint8_t img[20 * 16], lab[20];
    for (int i = 0; i < 20 * 16; i++) img[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 20; i++) lab[i] = (uint8_t)(i % 3);
    write_idx("tr-img", 3, (uint32_t[]){20, 4, 4}, img, sizeof img);
    write_idx("tr-lab", 1, (uint32_t[]){20}, lab, 20);
    write_idx("te-img", 3, (uint32_t[]){10, 4, 4}, img, 10 * 16);
    write_idx("te-lab", 1, (uint32_t[]){10}, lab, 10);
}

void remove_data(void) {
    const char *names[] = {"tr-img", "tr-lab", "te-img", "te-lab", ODD_NAME};
    char path[256];
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

/* Load `text` through everything up to the first training step. Returns 0,
 * or -1 with the message in `err`. */
int open_config(const char *text, char *err, size_t len) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    struct gr_session s;
    memset(&s, 0, sizeof s);
    int rc = gr_config_parse(&ctx, &cfg, "test.yaml", tmpdir, text, strlen(text));
    struct gr_session_opts opts = {.threads = 1};
    if (rc == 0) rc = gr_session_open(&ctx, &s, &cfg, &opts);
    snprintf(err, len, "%s", rc ? ctx.err : "");
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    return rc;
}


/* Parse the base config with overrides; 0 or -1 with ctx->err. */
int parse_with(struct gr_ctx *ctx, struct gr_config *cfg, const char *const *sets, int n) {
    char text[4096];
    with_line(text, sizeof text, 0, NULL);
    return gr_config_parse_ex(ctx, cfg, "test.yaml", tmpdir, text, strlen(text), sets, n);
}
