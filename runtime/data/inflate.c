#include "runtime/data/inflate.h"

#include <limits.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/data/reader.h"

int gr_inflate_init(struct gr_ctx *ctx, struct gr_inflate *s, const struct gr_source *src, uint64_t off,
                    uint64_t len, enum gr_inflate_kind kind, const char *where, const char *corrupt) {
    memset(&s->z, 0, sizeof s->z);
    s->src = src;
    s->kind = kind;
    s->where = where;
    s->corrupt = corrupt;
    s->next = off;
    s->end = off + len;
    s->out = 0;
    s->ended = 0;
    s->started = inflateInit2(&s->z, kind == GR_INFLATE_RAW ? -MAX_WBITS : MAX_WBITS + 16) == Z_OK;
    if (!s->started) return gr_fail(ctx, "%s: out of memory starting zlib", where);
    return 0;
}

/* Keep what is left of the input and read more after it. */
static int refill(struct gr_ctx *ctx, struct gr_inflate *s) {
    if (s->z.avail_in) memmove(s->in, s->z.next_in, s->z.avail_in);
    size_t room = sizeof s->in - s->z.avail_in;
    size_t want = s->end - s->next < room ? (size_t)(s->end - s->next) : room;
    int64_t got = gr_source_pread(ctx, s->src, s->in + s->z.avail_in, want, s->next);
    if (got < 0) return -1;
    s->next += (uint64_t)got;
    if ((size_t)got < want) s->end = s->next; /* the file shrank: its end is the input's */
    s->z.next_in = s->in;
    s->z.avail_in += (uInt)got;
    return 0;
}

/* After a gzip member: another one if the next two bytes are gzip's magic. */
static int after_member(struct gr_ctx *ctx, struct gr_inflate *s) {
    if (s->kind == GR_INFLATE_GZIP && s->z.avail_in < 2 && s->next < s->end && refill(ctx, s)) return -1;
    if (s->kind == GR_INFLATE_GZIP && s->z.avail_in >= 2 && s->z.next_in[0] == 0x1f && s->z.next_in[1] == 0x8b)
        inflateReset(&s->z);
    else
        s->ended = 1;
    return 0;
}

int64_t gr_inflate_read(struct gr_ctx *ctx, struct gr_inflate *s, void *out, size_t n) {
    uint8_t *dst = out;
    size_t done = 0;
    while (done < n && !s->ended) {
        if (s->z.avail_in == 0) {
            if (s->next == s->end) break; /* input ran out before the stream ended */
            if (refill(ctx, s)) return -1;
            if (s->z.avail_in == 0) break;
        }
        uInt want = n - done > UINT_MAX ? UINT_MAX : (uInt)(n - done), had = s->z.avail_in;
        s->z.next_out = dst + done;
        s->z.avail_out = want;
        int rc = inflate(&s->z, Z_NO_FLUSH);
        size_t made = want - s->z.avail_out;
        done += made;
        s->out += made;
        if (rc == Z_STREAM_END) {
            if (after_member(ctx, s)) return -1;
        } else if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_STREAM_ERROR || rc == Z_MEM_ERROR) {
            return gr_fail(ctx, "%s: %s: %s", s->where, s->corrupt,
                           s->z.msg ? s->z.msg : rc == Z_MEM_ERROR ? "out of memory" : "compressed data error");
        } else if (made == 0 && s->z.avail_in == had && s->z.avail_in != 0) {
            break; /* no progress with input left: treat as its end */
        }
    }
    return (int64_t)done;
}

uint64_t gr_inflate_unused(const struct gr_inflate *s) { return s->z.avail_in + (s->end - s->next); }

void gr_inflate_end(struct gr_inflate *s) {
    if (s->started) inflateEnd(&s->z);
    s->started = 0;
}
