#include "runtime/session/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "runtime/base/ctx.h"
#include "runtime/base/fs.h"
#include "runtime/session/checkpoint_format.h"
#include "runtime/session/state.h"

/* ---- saving ---------------------------------------------------------------- */


static json_t *header_json(struct gr_session *s, const struct gr_ckpt_entry *e, int n, int64_t step) {
    json_t *root = json_object();
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        json_t *t = json_object(), *shape = json_array();
        for (int d = 0; d < e[i].rank; d++) json_array_append_new(shape, json_integer(e[i].dim[d]));
        json_object_set_new(t, "dtype", json_string(e[i].dtype));
        json_object_set_new(t, "shape", shape);
        json_object_set_new(t, "data_offsets", json_pack("[I, I]", (json_int_t)off, (json_int_t)(off + e[i].bytes)));
        json_object_set_new(root, e[i].name, t);
        off += e[i].bytes;
    }
    char num[32];
    json_t *meta = json_object();
    json_object_set_new(meta, "format", json_string(GR_CKPT_FORMAT));
#define META_INT(key, v)                                                                                              \
    snprintf(num, sizeof num, "%lld", (long long)(v));                                                                 \
    json_object_set_new(meta, key, json_string(num))
    META_INT("step", step);
    META_INT("optim_t", s->opt.t);
    META_INT("data_pos", s->sampler.pos);
    META_INT("data_epoch", s->sampler.epoch);
    META_INT("log_n", s->log_n);
#undef META_INT
    snprintf(num, sizeof num, "%.17g", s->log_sum); /* a double survives %.17g exactly */
    json_object_set_new(meta, "log_sum", json_string(num));
    json_object_set_new(meta, "optimizer", json_string(gr_ckpt_optim_name(s)));
    if (gr_ckpt_holds_run_state(s)) gr_ckpt_put_run(meta, s);
    json_object_set_new(meta, "config", json_string(s->cfg->text ? s->cfg->text : ""));
    json_object_set_new(meta, "crc32", json_string("00000000")); /* filled in once the file's bytes are known */
    json_object_set_new(root, "__metadata__", meta);
    return root;
}

int gr_checkpoint_save(struct gr_session *s, int64_t step, const char *path) {
    struct gr_ctx *ctx = s->ctx;
    struct gr_ckpt_entry *e = NULL;
    int n = 0, rc = -1;
    char *header = NULL;
    json_t *root = NULL;
    struct gr_output out = {.fd = -1};
    if (gr_make_parent(ctx, path) || gr_ckpt_collect(s, &e, &n)) goto out;
    root = header_json(s, e, n, step);
    char *text = json_dumps(root, JSON_COMPACT);
    if (!text) {
        gr_fail(ctx, "%s: cannot encode the checkpoint header", path);
        goto out;
    }
    /* the length, then the header padded with spaces to a multiple of 8, as
     * safetensors writers do: one buffer, so the checksum can cover it */
    size_t hl = strlen(text), padded = (hl + 7) / 8 * 8;
    header = malloc(8 + padded);
    if (!header) {
        free(text);
        gr_fail(ctx, "%s: out of memory encoding the checkpoint header", path);
        goto out;
    }
    for (int b = 0; b < 8; b++) header[b] = (char)(uint8_t)((uint64_t)padded >> (8 * b));
    memcpy(header + 8, text, hl);
    memset(header + 8 + hl, ' ', padded - hl);
    free(text);
    long at = gr_ckpt_crc_position((const uint8_t *)header + 8, padded, "00000000");
    GR_ASSERT(at >= 0);
    uLong crc = gr_ckpt_header_crc((const uint8_t *)header, padded, (size_t)at);
    for (int i = 0; i < n; i++) crc = crc32_z(crc, e[i].data, e[i].bytes);
    char digits[9];
    snprintf(digits, sizeof digits, "%08lx", (unsigned long)(crc & 0xffffffffUL));
    memcpy(header + 8 + at, digits, 8);
    if (gr_open_output(ctx, &out, path)) goto out;
    uint64_t written = 0;
    if (gr_write_all(ctx, out.fd, header, 8 + padded, path, &written)) goto out;
    for (int i = 0; i < n; i++)
        if (gr_write_all(ctx, out.fd, e[i].data, e[i].bytes, path, &written)) goto out;
    rc = gr_commit_output(ctx, &out);
    goto done;
out:
    gr_discard_output(&out);
done:
    free(header);
    json_decref(root);
    gr_free(ctx, e);
    return rc;
}

