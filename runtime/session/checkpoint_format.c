/* What a checkpoint holds and how its checksum is taken: shared by the
 * writer (checkpoint.c) and the reader (checkpoint_read.c). */
#include "runtime/session/checkpoint_format.h"

#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "ops/core.h"
#include "runtime/base/ctx.h"
#include "runtime/session/state.h"

/* Whether the session holds a training run's state (optimizer, sampler), or
 * only parameters (eval, predict). */
int gr_ckpt_holds_run_state(const struct gr_session *s) { return s->mode == GR_SESSION_TRAIN; }

/* The tensors of kind k of a training session, for each parameter: 0 the
 * parameters, 1..n_state the optimizer's states (NULL when one is not
 * held), then early stopping's best parameters. */
static float *kind_base(struct gr_session *s, int k, const struct gr_optim_desc *od) {
    if (k == 0) return s->g.param;
    if (k <= od->n_state) return s->opt.state[k - 1];
    return s->watch.best_param;
}

/* One parameter's entry of kind k. */
static void param_entry(struct gr_session *s, int k, const struct gr_node *nd, float *base,
                        struct gr_ckpt_entry *e) {
    const struct gr_optim_desc *od = s->opt.cfg.desc;
    if (k == 0) snprintf(e->name, sizeof e->name, "param/%s", nd->name);
    else if (k <= od->n_state) snprintf(e->name, sizeof e->name, "optim/%s/%s", od->state[k - 1].name, nd->name);
    else snprintf(e->name, sizeof e->name, "best/%s", nd->name);
    e->dtype = "F32";
    e->rank = nd->shape.rank;
    memcpy(e->dim, nd->shape.dim, sizeof e->dim);
    e->data = base + nd->param_offset;
    e->bytes = gr_shape_bytes(&nd->shape);
    if (k > 0 && k <= od->n_state && (od->state[k - 1].flags & GR_OPTIM_STATE_NONNEGATIVE)) {
        snprintf(e->owner, sizeof e->owner, "%s's %s", od->title, od->state[k - 1].doc);
        e->never_negative = e->owner;
    }
}

/* The session's state as a list of tensors (pointers into the session): the
 * parameters, then, in a training session, the optimizer's states, early
 * stopping's best parameters, the generator and the sample order. */
int gr_ckpt_collect(struct gr_session *s, struct gr_ckpt_entry **out, int *n_out) {
    struct gr_graph *g = &s->g;
    int n_params = 0;
    for (int i = 0; i < g->n; i++) n_params += (g->nodes[i].op->flags & GR_OP_PARAM) != 0;
    const struct gr_optim_desc *od = s->opt.cfg.desc;
    int n_kinds = gr_ckpt_holds_run_state(s) && od ? 2 + od->n_state : 1;
    int cap = n_kinds * n_params + 2;
    struct gr_ckpt_entry *e = gr_calloc(s->ctx, (size_t)cap, sizeof *e);
    if (!e) return -1;
    int n = 0;
    /* param/<node>, optim/<state>/<node> for each state held (of the
     * parameters the optimizer updates), best/<node> */
    for (int k = 0; k < n_kinds; k++) {
        float *base = kind_base(s, k, od);
        for (int i = 0; base && i < g->n; i++)
            if ((g->nodes[i].op->flags & GR_OP_PARAM) && (k == 0 || k > od->n_state || gr_node_is_trainable(g, i)))
                param_entry(s, k, &g->nodes[i], base, &e[n++]);
    }
    if (!gr_ckpt_holds_run_state(s)) {
        *out = e;
        *n_out = n;
        return 0;
    }
    snprintf(e[n].name, sizeof e[n].name, "rng");
    e[n].dtype = "U64";
    e[n].rank = 1;
    e[n].dim[0] = 4;
    e[n].data = s->ctx->rng.s;
    e[n].bytes = sizeof s->ctx->rng.s;
    n++;
    snprintf(e[n].name, sizeof e[n].name, "data/order");
    e[n].dtype = "I32";
    e[n].rank = 1;
    e[n].dim[0] = s->sampler.n;
    e[n].data = s->sampler.order;
    e[n].bytes = (size_t)s->sampler.n * sizeof(int32_t);
    n++;
    *out = e;
    *n_out = n;
    return 0;
}

const char *gr_ckpt_optim_name(const struct gr_session *s) { return s->cfg->optim.desc->name; }

/* crc32 (metadata, 8 hex digits) is the CRC-32 of the whole file: the
 * length, the header (padding included) and the data, with the 8 digits of
 * crc32 itself read as '0'. In valid JSON the bytes `"crc32":"` can only be
 * a key crc32 with a string value, and keys are unique in each object, so
 * the digits are found by searching the raw header. */
static const char crc_key[] = "\"crc32\":\"";

/* Where the 8 digits `digits` sit in the header, or -1 unless exactly once. */
long gr_ckpt_crc_position(const uint8_t *header, size_t len, const char *digits) {
    char needle[32];
    snprintf(needle, sizeof needle, "%s%.8s\"", crc_key, digits);
    size_t n = strlen(needle);
    long at = -1;
    for (size_t i = 0; i + n <= len; i++)
        if (header[i] == '"' && memcmp(header + i, needle, n) == 0) {
            if (at >= 0) return -1;
            at = (long)(i + sizeof crc_key - 1);
        }
    return at;
}

/* CRC-32 of the 8 + hl bytes of length and header, with the crc32 digits at
 * header offset `at` read as '0' (the data's CRC continues from it). */
unsigned long gr_ckpt_header_crc(const uint8_t *len_and_header, size_t hl, size_t at) {
    static const uint8_t zeros[8] = {'0', '0', '0', '0', '0', '0', '0', '0'};
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32_z(crc, len_and_header, 8 + at);
    crc = crc32_z(crc, zeros, 8);
    return crc32_z(crc, len_and_header + 8 + at + 8, hl - at - 8);
}

