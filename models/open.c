#include "models/open.h"

#include <string.h>

#include "models/builder.h"
#include "models/init.h"
#include "runtime/config/config.h"

int gr_session_open(struct gr_ctx *ctx, struct gr_session *s, const struct gr_config *cfg,
                    const struct gr_session_opts *opts) {
    struct gr_session_opts o = {.threads = -1, .mode = GR_SESSION_TRAIN};
    if (opts) o = *opts;
    if (!o.fill) o.fill = gr_init_fill;
    if (gr_session_begin(ctx, s, cfg, &o)) return -1;
    /* everything that can be checked without allocating tensors first */
    if (gr_config_load_plugins(ctx, cfg)) return -1;
    if (gr_build_model(ctx, &s->g, cfg->path, cfg->graph, gr_ymap_get(cfg->doc.root, "blocks"), cfg->batch_size))
        return -1;
    return gr_session_ready(s);
}

int gr_train(struct gr_ctx *ctx, const struct gr_config *cfg, const struct gr_train_opts *opts,
             struct gr_train_result *res) {
    struct gr_session s;
    struct gr_session_opts so = {.threads = opts ? opts->threads : -1, .mode = GR_SESSION_TRAIN};
    int rc = gr_session_open(ctx, &s, cfg, &so);
    if (rc == 0) {
        rc = gr_train_run(&s, opts, res);
    } else {
        memset(res, 0, sizeof *res);
        res->checkpoint_step = -1;
    }
    gr_session_close(&s);
    return rc;
}
