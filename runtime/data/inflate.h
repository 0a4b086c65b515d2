/* A compressed byte range of an open source, inflated on demand: raw
 * deflate (zip members) or gzip. Only pread touches the file, so several
 * streams over one descriptor never disturb each other. */
#ifndef GR_INFLATE_H
#define GR_INFLATE_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

struct gr_ctx;
struct gr_source;

enum gr_inflate_kind {
    GR_INFLATE_RAW, /* one raw deflate stream (zip) */
    GR_INFLATE_GZIP /* gzip members one after another; anything else after a member is ignored, as gzread does */
};

struct gr_inflate {
    z_stream z;
    const struct gr_source *src;
    enum gr_inflate_kind kind;
    const char *where;   /* message prefix */
    const char *corrupt; /* what a zlib error is called: "corrupt gzip data" */
    uint64_t next, end;  /* compressed bytes not yet read: [next, end) */
    uint64_t out;        /* bytes produced */
    int started;         /* inflateInit2 done */
    int ended;           /* the (last) stream ended properly */
    uint8_t in[32768];
};

/* Inflate [off, off + len) of src. Errors read "WHERE: CORRUPT: zlib's message". */
int gr_inflate_init(struct gr_ctx *ctx, struct gr_inflate *s, const struct gr_source *src, uint64_t off,
                    uint64_t len, enum gr_inflate_kind kind, const char *where, const char *corrupt);
/* Up to n bytes: the count, fewer than n only when the stream ended
 * (s->ended) or its input ran out first (!s->ended); -1 on corrupt data. */
int64_t gr_inflate_read(struct gr_ctx *ctx, struct gr_inflate *s, void *out, size_t n);
/* Compressed bytes of the range that the stream did not use. */
uint64_t gr_inflate_unused(const struct gr_inflate *s);
void gr_inflate_end(struct gr_inflate *s);

#endif
