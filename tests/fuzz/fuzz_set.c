/* Fuzz --set overrides: the input is a config and override texts separated
 * by NUL bytes (an empty first part stands for tests/bad/configs/ok.yaml,
 * so mutations can spend themselves on the overrides). The config goes
 * through everything a run checks before training. Beyond crashes, leaks
 * and undefined behaviour, a finding is:
 *   - an error message that is not one line, or that does not start with
 *     the config's name or the override's "--set " or "--unset " (every
 *     error is located);
 *   - an accepted config whose run-folder text (cfg->run_text) does not read
 *     back as a config, or reads back as another tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "runtime/config/config.h"
#include "runtime/base/ctx.h"
#include "runtime/host/host.h"
#include "models/open.h"
#include "runtime/session/evaluate.h"
#include "runtime/yaml/yaml.h"
#include "runtime/base/fs.h"

#define DIR GR_SOURCE_DIR "/tests/bad/configs"
#define MAX_SETS 64

static char *ok_text; /* tests/bad/configs/ok.yaml, read once */
static size_t ok_len;

static void free_ok(void) { free(ok_text); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    struct gr_ctx ctx;
    char *text;
    if (gr_ctx_init(&ctx) || gr_read_text_file(&ctx, DIR "/ok.yaml", 1 << 20, &text, &ok_len)) abort();
    ok_text = malloc(ok_len + 1);
    if (!ok_text) abort();
    memcpy(ok_text, text, ok_len + 1);
    gr_free(&ctx, text);
    gr_ctx_free(&ctx);
    atexit(free_ok);
    return 0;
}

static void check_message(const char *err) {
    if (strchr(err, '\n') || strchr(err, '\r') ||
        (strncmp(err, "fuzz.yaml", 9) != 0 && strncmp(err, "--set ", 6) != 0 &&
         strncmp(err, GR_OVERRIDE_UNSET, strlen(GR_OVERRIDE_UNSET)) != 0)) {
        fprintf(stderr, "badly formed message: %s\n", err);
        __builtin_trap();
    }
}

/* The run text read back is a config whose own run text has the same body. */
static void check_round_trip(struct gr_ctx *ctx, const struct gr_config *cfg) {
    const char *body = strchr(cfg->run_text, '\n');
    if (!body || cfg->run_text[0] != '#') __builtin_trap();
    struct gr_config again;
    if (gr_config_parse(ctx, &again, "fuzz-run.yaml", "/nonexistent", cfg->run_text, strlen(cfg->run_text))) {
        fprintf(stderr, "run text refused: %s\n%s\n", ctx->err, cfg->run_text);
        __builtin_trap();
    }
    const char *again_body = strchr(again.run_text, '\n');
    if (!again_body || strcmp(again_body, body) != 0) {
        fprintf(stderr, "run text changed on reading back:\n%s\n----\n%s\n", cfg->run_text, again.run_text);
        __builtin_trap();
    }
    gr_config_free(ctx, &again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    /* parts: config, then overrides */
    const char *sets[MAX_SETS];
    int n_sets = 0;
    size_t first = strlen(buf);
    for (size_t at = first; at < size && n_sets < MAX_SETS;) {
        sets[n_sets++] = buf + at + 1;
        at += 1 + strlen(buf + at + 1);
    }
    const char *text = first ? buf : ok_text;
    size_t len = first ? first : ok_len;

    struct gr_ctx ctx;
    if (gr_ctx_init(&ctx)) {
        free(buf);
        return 0;
    }
    ctx.mem_limit = (uint64_t)256 << 20;
    struct gr_config cfg;
    if (gr_config_parse_ex(&ctx, &cfg, "fuzz.yaml", DIR, text, len, sets, n_sets) == 0) {
        check_round_trip(&ctx, &cfg);
        struct gr_session s;
        struct gr_session_opts opts = {.threads = 1};
        if (gr_session_open(&ctx, &s, &cfg, &opts) != 0) check_message(ctx.err);
        gr_session_close(&s);
    } else {
        check_message(ctx.err);
    }
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    free(buf);
    return 0;
}
