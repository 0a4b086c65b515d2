/* Fuzz the checkpoint reader against a real session (tests/bad/configs/ok.yaml):
 * any input is parsed, checked and, if accepted, applied. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "runtime/session/checkpoint.h"
#include "runtime/config/config.h"
#include "runtime/base/ctx.h"
#include "runtime/host/host.h"
#include "models/open.h"
#include "runtime/session/evaluate.h"

/* one session for the whole fuzzing run (test harness state) */
static struct gr_ctx ctx;
static struct gr_config cfg;
static struct gr_session s;

static void close_all(void) {
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    struct gr_session_opts opts = {.threads = 1};
    if (gr_ctx_init(&ctx) || gr_config_load(&ctx, &cfg, GR_SOURCE_DIR "/tests/bad/configs/ok.yaml") ||
        gr_session_open(&ctx, &s, &cfg, &opts))
        abort();
    atexit(close_all);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int64_t step;
    /* odd sizes skip the checksum, so mutations also reach the checks behind it */
    unsigned flags = GR_CKPT_APPLY | (size % 2 ? GR_CKPT_NO_CRC : 0u);
    gr_checkpoint_parse(&s, "fuzz.safetensors", data, size, flags, &step);
    return 0;
}
