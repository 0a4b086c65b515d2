/* The gradients a training step zeroes before backward: the activation
 * gradients and parameter gradients whose first writer adds (plan.c's
 * plan_assigns picks them), zeroed on the pool's threads. */
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/engine/plan.h"
#include "runtime/host/threads.h"

/* The parameter gradient block's floats that backward does not assign,
 * as ranges in block order (pzero_off, pzero_len): all but the parameters
 * whose first writer assigns (`assigned`: a node's flag), padding and
 * parameters no node writes included. */
void gr_plan_param_zeroes(struct gr_plan *p, const unsigned char *assigned) {
    const struct gr_graph *g = p->g;
    int64_t at = 0;
    for (;;) {
        /* the assigned parameter that starts first at or after `at` */
        int next = -1;
        for (int v = 0; v < g->n; v++)
            if (assigned[v] && g->nodes[v].param_offset >= at &&
                (next < 0 || g->nodes[v].param_offset < g->nodes[next].param_offset))
                next = v;
        int64_t end = next < 0 ? g->param_floats : g->nodes[next].param_offset;
        if (end > at) {
            p->pzero_off[p->n_pzero] = at;
            p->pzero_len[p->n_pzero++] = end - at;
            p->pzero_floats += end - at;
        }
        if (next < 0) return;
        at = end + gr_shape_count(&g->nodes[next].shape);
    }
}

/* zero 4 KiB pages [b, e) of the zeroed ranges laid end to end: the
 * arena's, then the parameter gradient block's */
static void zero_part(void *arg, int64_t b, int64_t e) {
    struct gr_plan *p = arg;
    size_t lo = (size_t)b * 4096, hi = (size_t)e * 4096, start = 0;
    for (int r = 0; r < p->n_zero + p->n_pzero && start < hi; r++) {
        int par = r >= p->n_zero;
        char *at = par ? (char *)(p->param_grad + p->pzero_off[r - p->n_zero]) : (char *)p->arena + p->zero_off[r];
        size_t len = par ? (size_t)p->pzero_len[r - p->n_zero] * sizeof(float) : p->zero_len[r];
        size_t a = lo > start ? lo - start : 0, z = hi - start < len ? hi - start : len;
        if (z > a) memset(at + a, 0, z - a);
        start += len;
    }
}

void gr_plan_zero_grad(struct gr_plan *p) {
    size_t bytes = p->zero_bytes + (size_t)p->pzero_floats * sizeof(float);
    gr_pool_run(p->g->ctx->pool, (int64_t)((bytes + 4095) / 4096), zero_part, p);
}
