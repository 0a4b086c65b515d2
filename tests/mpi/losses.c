/* The training loop of graphrun, printing what the MPI tests compare: each
 * step's loss and the end's test accuracy, to nine digits (the command
 * prints four). As one process, or as one rank of mpirun (rank 0 prints).
 *
 *   mpi_losses CONFIG [--resume CKPT] [--run-dir DIR] [PATH=VALUE]...
 *
 * prints "step N LOSS" for each step, then "test_accuracy A" (or "error:
 * MESSAGE"); exits 0, or 1 after an error. */
#include <stdio.h>
#include <string.h>

#include "models/open.h"
#include "runtime/base/ctx.h"
#include "runtime/config/config.h"
#include "runtime/dist/dist.h"
#include "runtime/host/host.h"
#include "runtime/session/train.h"

static void print_step(void *ud, const struct gr_train_event *ev) {
    (void)ud;
    if (ev->kind == GR_TRAIN_STEP) printf("step %lld %.9g\n", (long long)ev->step, ev->loss);
    if (ev->kind == GR_TRAIN_END) printf("test_accuracy %.9g\n", ev->result->test_accuracy);
}

/* Every rank opens and trains; 0, or -1 with the message in ctx->err. */
static int run(struct gr_ctx *ctx, const struct gr_dist *dist, int argc, char **argv) {
    const char *sets[64], *resume = NULL, *run_dir = NULL;
    int n_sets = 0;
    for (int k = 2; k < argc; k++) {
        if (!strcmp(argv[k], "--resume") && k + 1 < argc) resume = argv[++k];
        else if (!strcmp(argv[k], "--run-dir") && k + 1 < argc) run_dir = argv[++k];
        else if (n_sets < 64) sets[n_sets++] = argv[k];
    }
    struct gr_config cfg;
    struct gr_session s;
    memset(&s, 0, sizeof s);
    int rc = gr_config_load_ex(ctx, &cfg, argv[1], sets, n_sets);
    if (rc == 0) {
        struct gr_session_opts so = {.threads = -1, .mode = GR_SESSION_TRAIN, .dist = dist};
        rc = gr_session_open(ctx, &s, &cfg, &so);
    }
    rc = gr_dist_agree(dist, rc ? GR_DIST_FAILED : GR_DIST_OK, ctx->err, sizeof ctx->err);
    if (rc == 0) {
        struct gr_train_opts opts = {.threads = -1, .resume = resume, .run_dir = run_dir, .report = print_step};
        struct gr_train_result res;
        rc = gr_train_run(&s, &opts, &res);
    }
    gr_session_close(&s);
    gr_config_free(ctx, &cfg);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: mpi_losses CONFIG [--resume CKPT] [--run-dir DIR] [PATH=VALUE]...\n");
        return 2;
    }
    struct gr_dist dist;
    struct gr_ctx ctx;
    char err[GR_ERRBUF];
    if (gr_dist_open(&dist, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (gr_ctx_init(&ctx)) return 1;
    int rc = run(&ctx, &dist, argc, argv);
    if (rc && dist.rank == 0) printf("error: %s\n", ctx.err);
    gr_ctx_free(&ctx);
    gr_dist_close(&dist);
    return rc ? 1 : 0;
}
