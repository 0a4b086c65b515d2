/* Fuzz the config front-end and everything a run checks before training:
 * YAML, the schema, the graph builder, shape inference, the data files named
 * (tests/bad/data, relative to tests/bad/configs) and plan allocation, under a
 * 256 MiB memory cap. Any crash, leak or undefined behaviour is a finding. */
#include <string.h>

#include "fuzz.h"
#include "runtime/config/config.h"
#include "runtime/base/ctx.h"
#include "runtime/host/host.h"
#include "models/open.h"
#include "runtime/session/evaluate.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct gr_ctx ctx;
    if (gr_ctx_init(&ctx)) return 0;
    ctx.mem_limit = (uint64_t)256 << 20;
    struct gr_config cfg;
    if (gr_config_parse(&ctx, &cfg, "fuzz.yaml", GR_SOURCE_DIR "/tests/bad/configs", (const char *)data, size) == 0) {
        struct gr_session s;
        struct gr_session_opts opts = {.threads = 1};
        if (gr_session_open(&ctx, &s, &cfg, &opts) == 0 && s.steps > 0 && s.train.n > 0) {
            gr_session_step(&s);
            if (s.logits >= 0) gr_session_accuracy(&s, &s.test_set, s.test_set.n < 8 ? s.test_set.n : 8);
        }
        gr_session_close(&s);
    }
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    return 0;
}
