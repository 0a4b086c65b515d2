/* Checkpoints: exact resume, refusal of corrupt and mismatched files, a
 * kill -9 in the middle of a save, and the real command killed at random
 * moments then resumed. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "helpers.h"
#include "runtime/session/checkpoint.h"
#include "runtime/config/config.h"
#include "models/open.h"
#include "runtime/session/evaluate.h"

static char dir[64];

static void setup(void) { tg_tmpdir(dir, sizeof dir, "ckpt"); }

static void teardown(void) { tg_rmtree(dir); }

TestSuite(checkpoint, .init = setup, .fini = teardown, .timeout = 240);

struct run {
    struct gr_ctx ctx;
    struct gr_config cfg;
    struct gr_session s;
};

static void open_run_threads(struct run *r, int units, const char *optimizer, int threads) {
    char text[4096];
    tg_small_config(text, sizeof text, units, 100, optimizer, NULL, 50);
    cr_assert_eq(gr_ctx_init(&r->ctx), 0);
    cr_assert_eq(gr_config_parse(&r->ctx, &r->cfg, "ckpt.yaml", "", text, strlen(text)), 0, "%s", r->ctx.err);
    struct gr_session_opts opts = {.threads = threads};
    cr_assert_eq(gr_session_open(&r->ctx, &r->s, &r->cfg, &opts), 0, "%s (run tools/fetch_mnist.sh)", r->ctx.err);
}

static void open_run(struct run *r, int units, const char *optimizer) { open_run_threads(r, units, optimizer, 2); }

static void close_run(struct run *r) {
    gr_session_close(&r->s);
    gr_config_free(&r->ctx, &r->cfg);
    gr_ctx_free(&r->ctx);
}

static const char *adam = "{name: adam, lr: 0.01}";

static const char *path_in(const char *name) {
    static char p[256]; /* one at a time in these tests */
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

Test(checkpoint, a_resumed_session_continues_exactly) {
    float straight[30], resumed[18];
    struct run r;
    open_run(&r, 16, adam);
    for (int i = 0; i < 30; i++) straight[i] = gr_session_step(&r.s);
    close_run(&r);

    open_run(&r, 16, adam);
    for (int i = 0; i < 12; i++) gr_session_step(&r.s);
    cr_assert_eq(gr_checkpoint_save(&r.s, 12, path_in("a.safetensors")), 0, "%s", r.ctx.err);
    close_run(&r);

    open_run(&r, 16, adam); /* a fresh process would start from the seed */
    int64_t step = -1;
    cr_assert_eq(gr_checkpoint_load(&r.s, path_in("a.safetensors"), &step), 0, "%s", r.ctx.err);
    cr_expect_eq(step, 12);
    for (int i = 0; i < 18; i++) resumed[i] = gr_session_step(&r.s);
    close_run(&r);
    cr_expect_arr_eq(resumed, straight + 12, sizeof resumed, "losses after resuming equal the unbroken run's");
}

/* Write a copy of `src` with `len` bytes, optionally changed at `at`. */
static void write_variant(const char *src, const char *dst, long len, long at, uint8_t xor_with) {
    FILE *f = fopen(src, "rb");
    cr_assert(f);
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (at >= 0 && (size_t)at < n) buf[at] ^= xor_with;
    f = fopen(dst, "wb");
    fwrite(buf, 1, len < 0 ? n : (size_t)len, f);
    fclose(f);
}

static void expect_refused(struct run *r, const char *file, const char *msg) {
    int64_t step;
    float before = r->s.g.param[0];
    cr_expect_eq(gr_checkpoint_load(&r->s, file, &step), -1, "%s was accepted", file);
    cr_expect(strstr(r->ctx.err, msg) != NULL, "expected '%s', got: %s", msg, r->ctx.err);
    cr_expect_eq(r->s.g.param[0], before, "a refused checkpoint changed the parameters");
}

Test(checkpoint, corrupt_or_foreign_checkpoints_are_refused) {
    struct run r;
    open_run(&r, 16, adam);
    for (int i = 0; i < 3; i++) gr_session_step(&r.s);
    char good[256];
    snprintf(good, sizeof good, "%s", path_in("good.safetensors"));
    cr_assert_eq(gr_checkpoint_save(&r.s, 3, good), 0, "%s", r.ctx.err);
    struct stat st;
    cr_assert_eq(stat(good, &st), 0);
    char bad[256];
    snprintf(bad, sizeof bad, "%s", path_in("bad.safetensors"));

    write_variant(good, bad, -1, st.st_size - 100, 0x01); /* one bit in the data */
    expect_refused(&r, bad, "checksum mismatch");
    write_variant(good, bad, st.st_size - 1, -1, 0);
    expect_refused(&r, bad, "lie outside the");
    write_variant(good, bad, 5, -1, 0);
    expect_refused(&r, bad, "too short for a checkpoint");
    write_variant(good, bad, -1, 8, 0x01); /* the header's opening brace */
    expect_refused(&r, bad, "header is not valid JSON");
    write_variant(good, bad, -1, 7, 0x40); /* header length far past the file */
    expect_refused(&r, bad, "does not fit the");
    expect_refused(&r, path_in("missing.safetensors"), "cannot open");
    close_run(&r);

    open_run(&r, 24, adam); /* another graph: 24 units */
    expect_refused(&r, good, "tensor 'param/lstm.kernel' is F32 [44, 64] in the checkpoint but F32 [52, 96] in this run");
    close_run(&r);
    open_run(&r, 16, "{name: sgd, lr: 0.1, momentum: 0.9}");
    expect_refused(&r, good, "written by optimizer 'adam', but this run uses 'sgd'");
    close_run(&r);
}

/* ---- values and metadata a checksum cannot vouch for ---------------------- */

/* A checkpoint of `r` at `step` with one float of `block` (the parameters or
 * a moment) at element `k` of parameter node `node` set to `v` for the save:
 * the file is written by graphrun, so its checksum is valid. */
static void save_with(struct run *r, float *block, const char *node, int64_t k, float v, const char *file) {
    int i = gr_graph_find(&r->s.g, node);
    cr_assert_geq(i, 0, "%s", node);
    float *at = block + r->s.g.nodes[i].param_offset + k, keep = *at;
    *at = v;
    cr_assert_eq(gr_checkpoint_save(&r->s, 3, path_in(file)), 0, "%s", r->ctx.err);
    *at = keep;
}

Test(checkpoint, non_finite_or_impossible_values_are_refused_by_name_and_index) {
    struct run r;
    open_run(&r, 16, adam);
    for (int i = 0; i < 3; i++) gr_session_step(&r.s);
    /* lstm.kernel is [44, 64]: element 100 is [1, 36]; logits.kernel is [16, 10] */
    save_with(&r, r.s.g.param, "lstm.kernel", 100, NAN, "nan.safetensors");
    save_with(&r, r.s.g.param, "logits.bias", 9, INFINITY, "inf.safetensors");
    save_with(&r, gr_optim_state(&r.s.opt, "m"), "lstm.bias", 5, -NAN, "m.safetensors");
    save_with(&r, gr_optim_state(&r.s.opt, "v"), "logits.kernel", 17, -1e-3f, "v.safetensors");
    save_with(&r, gr_optim_state(&r.s.opt, "v"), "logits.kernel", 0, INFINITY, "vinf.safetensors");
    uint64_t rng[4];
    memcpy(rng, r.ctx.rng.s, sizeof rng);
    memset(r.ctx.rng.s, 0, sizeof r.ctx.rng.s);
    cr_assert_eq(gr_checkpoint_save(&r.s, 3, path_in("rng.safetensors")), 0, "%s", r.ctx.err);
    memcpy(r.ctx.rng.s, rng, sizeof rng);
    close_run(&r);

    open_run(&r, 16, adam); /* a fresh session, as --resume and eval open */
    char file[256];
#define REFUSED(f, msg)                                                                                                \
    snprintf(file, sizeof file, "%s", path_in(f));                                                                    \
    expect_refused(&r, file, msg)
    REFUSED("nan.safetensors", "tensor 'param/lstm.kernel' holds nan at [1, 36] (element 100); a checkpoint's values must be finite");
    REFUSED("inf.safetensors", "tensor 'param/logits.bias' holds inf at [9] (element 9)");
    REFUSED("m.safetensors", "tensor 'optim/m/lstm.bias' holds -nan at [5] (element 5)");
    REFUSED("v.safetensors", "tensor 'optim/v/logits.kernel' holds -0.001 at [1, 7] (element 17); Adam's second moment is never negative");
    REFUSED("vinf.safetensors", "tensor 'optim/v/logits.kernel' holds inf at [0, 0] (element 0)");
    REFUSED("rng.safetensors", "tensor 'rng' is all zeros");
#undef REFUSED
    close_run(&r);

    /* evaluation refuses it too, through the command */
    char cfg[256], text[4096], *out = NULL;
    snprintf(cfg, sizeof cfg, "%s", path_in("nan.yaml"));
    tg_small_config(text, sizeof text, 16, 10, adam, NULL, 5);
    FILE *f = fopen(cfg, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    int st = tg_sh(&out, "%s/graphrun eval %s --checkpoint %s/nan.safetensors 2>&1", GR_BUILD_DIR, cfg, dir);
    cr_expect_eq(st, 1, "status %d: %s", st, out);
    cr_expect(strstr(out, "tensor 'param/lstm.kernel' holds nan at [1, 36]"), "%s", out);
    free(out);
}

/* Rewrite the JSON header of `src` into `dst` through `edit`, keeping the data
 * (and whatever crc32 the header holds, unless edit changes it). */
static void rewrite_header(const char *src, const char *dst, void (*edit)(json_t *root, const uint8_t *data, size_t n,
                                                                          const void *ud),
                           const void *ud) {
    size_t len;
    uint8_t *buf = (uint8_t *)tg_slurp(src, &len);
    cr_assert(buf && len > 8);
    uint64_t hl = 0;
    for (int b = 0; b < 8; b++) hl |= (uint64_t)buf[b] << (8 * b);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf + 8, hl, 0, &jerr);
    cr_assert(root, "%s", jerr.text);
    edit(root, buf + 8 + hl, len - 8 - hl, ud);
    char *text = json_dumps(root, JSON_COMPACT);
    size_t tl = strlen(text), padded = (tl + 7) / 8 * 8;
    FILE *f = fopen(dst, "wb");
    cr_assert(f);
    for (int b = 0; b < 8; b++) fputc((int)((padded >> (8 * b)) & 0xff), f);
    fputs(text, f);
    for (size_t k = tl; k < padded; k++) fputc(' ', f);
    fwrite(buf + 8 + hl, 1, len - 8 - hl, f);
    fclose(f);
    free(text);
    json_decref(root);
    free(buf);
}

struct meta_edit {
    const char *key, *value;
};

static void set_meta(json_t *root, const uint8_t *data, size_t n, const void *ud) {
    (void)data;
    (void)n;
    const struct meta_edit *m = ud;
    json_t *meta = json_object_get(root, "__metadata__");
    cr_assert(json_string_value(json_object_get(meta, m->key)), "no metadata '%s'", m->key);
    json_object_set_new(meta, m->key, json_string(m->value));
}

/* the two moments of a parameter have the same shape: swap their offsets */
static void swap_moments(json_t *root, const uint8_t *data, size_t n, const void *ud) {
    (void)data;
    (void)n;
    (void)ud;
    json_t *m = json_object_get(json_object_get(root, "optim/m/logits.kernel"), "data_offsets");
    json_t *v = json_object_get(json_object_get(root, "optim/v/logits.kernel"), "data_offsets");
    cr_assert(m && v);
    json_t *keep = json_deep_copy(m);
    json_array_clear(m);
    json_array_extend(m, v);
    json_array_clear(v);
    json_array_extend(v, keep);
    json_decref(keep);
}

Test(checkpoint, every_metadata_field_and_offset_is_covered_by_the_checksum) {
    struct run r;
    open_run(&r, 16, adam);
    for (int i = 0; i < 20; i++) gr_session_step(&r.s);
    char good[256], bad[256];
    snprintf(good, sizeof good, "%s", path_in("good.safetensors"));
    snprintf(bad, sizeof bad, "%s", path_in("edited.safetensors"));
    cr_assert_eq(gr_checkpoint_save(&r.s, 20, good), 0, "%s", r.ctx.err);
    int64_t step = -1;
    cr_assert_eq(gr_checkpoint_load(&r.s, good, &step), 0, "%s", r.ctx.err);
    cr_assert_eq(step, 20);
    /* every value still well formed and plausible: only the checksum can tell */
    const struct meta_edit edits[] = {
        {"step", "90"},           {"optim_t", "90"},           {"data_pos", "0"},
        {"data_epoch", "7"},      {"optimizer", "sgd"},        {"config", "data: {}\n"},
        {"format", "graphrun-checkpoint-2"}, /* unchanged: the file must still load after a rewrite */
    };
    for (size_t k = 0; k < sizeof edits / sizeof edits[0]; k++) {
        rewrite_header(good, bad, set_meta, &edits[k]);
        if (strcmp(edits[k].key, "format") == 0) {
            cr_expect_eq(gr_checkpoint_load(&r.s, bad, &step), 0, "an unchanged header, rewritten: %s", r.ctx.err);
            continue;
        }
        cr_log_info("%s: %s", edits[k].key, edits[k].value);
        expect_refused(&r, bad, "checksum mismatch");
    }
    rewrite_header(good, bad, swap_moments, NULL);
    expect_refused(&r, bad, "checksum mismatch");
    /* the padding is header too: a tab for a space is still valid JSON. A
     * header whose JSON fills a multiple of 8 bytes has no padding, so the
     * step written (one more digit each time) is varied until it has some */
    size_t len = 0;
    char *buf = NULL;
    uint64_t hl = 0;
    int64_t at_step = 20;
    for (int tries = 0; tries < 9; tries++, at_step *= 10) {
        cr_assert_eq(gr_checkpoint_save(&r.s, at_step, good), 0, "%s", r.ctx.err);
        free(buf);
        buf = tg_slurp(good, &len);
        cr_assert(buf);
        hl = 0;
        for (int b = 0; b < 8; b++) hl |= (uint64_t)(uint8_t)buf[b] << (8 * b);
        if (buf[8 + hl - 1] == ' ') break;
    }
    size_t pad = 8 + hl - 1;
    cr_assert_eq(buf[pad], ' ', "the header is padded with spaces");
    buf[pad] = '\t';
    FILE *f = fopen(bad, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    free(buf);
    expect_refused(&r, bad, "checksum mismatch");
    close_run(&r);
}

/* An older graphrun's file: format 1, whose crc32 covered the data alone. */
static void make_format_1(json_t *root, const uint8_t *data, size_t n, const void *ud) {
    (void)ud;
    json_t *meta = json_object_get(root, "__metadata__");
    char crc[16];
    snprintf(crc, sizeof crc, "%08lx", (unsigned long)crc32_z(crc32(0L, Z_NULL, 0), data, n));
    json_object_set_new(meta, "format", json_string("graphrun-checkpoint-1"));
    json_object_set_new(meta, "crc32", json_string(crc));
}

Test(checkpoint, a_checkpoint_of_an_older_graphrun_is_refused_as_unverifiable) {
    struct run r;
    open_run(&r, 16, adam);
    for (int i = 0; i < 3; i++) gr_session_step(&r.s);
    char good[256], old[256];
    snprintf(good, sizeof good, "%s", path_in("new.safetensors"));
    snprintf(old, sizeof old, "%s", path_in("old.safetensors"));
    cr_assert_eq(gr_checkpoint_save(&r.s, 3, good), 0, "%s", r.ctx.err);
    rewrite_header(good, old, make_format_1, NULL);
    expect_refused(&r, old, "written by an older graphrun (format graphrun-checkpoint-1, whose checksum does not cover "
                            "its header)");
    close_run(&r);

    /* and a file an older graphrun really wrote (for tests/bad/configs/ok.yaml) */
    struct gr_ctx ctx;
    struct gr_config cfg;
    struct gr_session s;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    cr_assert_eq(gr_config_load(&ctx, &cfg, GR_SOURCE_DIR "/tests/bad/configs/ok.yaml"), 0, "%s", ctx.err);
    struct gr_session_opts opts = {.threads = 1};
    cr_assert_eq(gr_session_open(&ctx, &s, &cfg, &opts), 0, "%s", ctx.err);
    int64_t step;
    cr_expect_eq(gr_checkpoint_load(&s, GR_SOURCE_DIR "/tests/fuzz/seeds/checkpoint/format-1.safetensors", &step), -1);
    cr_expect(strstr(ctx.err, "written by an older graphrun"), "%s", ctx.err);
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

/* A child that dies by SIGKILL after `after` bytes of a save. */
static void die_after(void *ud, uint64_t written) {
    if (written >= *(uint64_t *)ud) raise(SIGKILL);
}

Test(checkpoint, a_kill_during_a_save_leaves_the_previous_checkpoint_whole) {
    struct run r;
    /* one thread: a forked child has no copy of the pool's workers */
    open_run_threads(&r, 16, adam, 1);
    for (int i = 0; i < 4; i++) gr_session_step(&r.s);
    char ckpt[256];
    snprintf(ckpt, sizeof ckpt, "%s", path_in("k.safetensors"));
    cr_assert_eq(gr_checkpoint_save(&r.s, 4, ckpt), 0, "%s", r.ctx.err);
    struct stat st;
    cr_assert_eq(stat(ckpt, &st), 0);
    uint64_t cuts[] = {1, 8, 64, 4096, (uint64_t)st.st_size / 2, (uint64_t)st.st_size - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            /* the child trains on and dies while overwriting the checkpoint */
            gr_session_step(&r.s);
            r.ctx.write_hook = die_after;
            r.ctx.write_hook_ud = &cuts[c];
            gr_checkpoint_save(&r.s, 5, ckpt);
            _exit(3); /* not reached: the hook kills first */
        }
        int status;
        waitpid(pid, &status, 0);
        cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "cut %zu: the child was not killed", c);
        int64_t step = -1;
        cr_expect_eq(gr_checkpoint_load(&r.s, ckpt, &step), 0, "cut at %llu bytes: %s", (unsigned long long)cuts[c],
                     r.ctx.err);
        cr_expect_eq(step, 4, "cut at %llu bytes: the old checkpoint survives", (unsigned long long)cuts[c]);
    }
    close_run(&r);
}

/* ---- the command itself --------------------------------------------------- */

static void write_config(const char *name, const char *ckpt, int steps) {
    char extra[512], text[4096];
    snprintf(extra, sizeof extra, "checkpoint: {path: %s, every: 1}", ckpt);
    tg_small_config(text, sizeof text, 32, steps, adam, extra, 1);
    FILE *f = fopen(path_in(name), "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

/* the step of a checkpoint, which must load into the test's model */
static int64_t step_of(const char *ckpt, void *arg) {
    (void)arg;
    int64_t step = 0;
    struct run r;
    open_run(&r, 32, adam);
    cr_expect_eq(gr_checkpoint_load(&r.s, ckpt, &step), 0, "%s: %s", ckpt, r.ctx.err);
    close_run(&r);
    return step;
}

Test(checkpoint, the_command_killed_at_random_then_resumed_prints_the_same_losses) {
    char ckpt[256], cfg[256];
    snprintf(ckpt, sizeof ckpt, "%s", path_in("cmd.safetensors"));
    snprintf(cfg, sizeof cfg, "%s", path_in("cmd.yaml"));
    write_config("cmd.yaml", ckpt, 400);
    static char straight[65536], joined[65536];
    int kills = tg_kill_and_resume(cfg, ckpt, 400, dir, NULL, 12345, step_of, NULL, straight, joined, sizeof joined);
    cr_expect_geq(kills, 3, "only %d kills landed during training", kills);
    cr_expect_str_eq(joined, straight, "killed and resumed runs print the unbroken run's losses");
}
