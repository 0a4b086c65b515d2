#include "runtime/base/ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


_Noreturn void gr_assert_fail(const char *file, int line, const char *what) {
    fprintf(stderr, "%s:%d: graphrun internal error: assertion failed: %s\n", file, line, what);
    abort();
}

static void *default_alloc(void *ud, size_t bytes, size_t align) {
    (void)ud;
    void *p = NULL;
    if (bytes == 0) bytes = align;
    bytes = (bytes + align - 1) / align * align;
    p = aligned_alloc(align, bytes);
    return p;
}

static void default_free(void *ud, void *p) {
    (void)ud;
    free(p);
}

void gr_ctx_base_init(struct gr_ctx *ctx) {
    memset(ctx, 0, sizeof *ctx);
    ctx->mem.alloc = default_alloc;
    ctx->mem.free = default_free;
    gr_rng_seed(&ctx->rng, 0);
}

/* A message is one line: a control character a user put into a name, a path
 * or an override (a newline, say) is shown escaped, as C writes it. */
static void set_err(struct gr_ctx *ctx, const char *msg) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p && o + 5 < sizeof ctx->err; p++) {
        if (*p >= 0x20 && *p != 0x7f) {
            ctx->err[o++] = (char)*p;
            continue;
        }
        ctx->err[o++] = '\\';
        if (*p == '\n') ctx->err[o++] = 'n';
        else if (*p == '\r') ctx->err[o++] = 'r';
        else if (*p == '\t') ctx->err[o++] = 't';
        else {
            ctx->err[o++] = 'x';
            ctx->err[o++] = hex[*p >> 4];
            ctx->err[o++] = hex[*p & 15];
        }
    }
    ctx->err[o] = 0;
}

int gr_vfail(struct gr_ctx *ctx, const char *fmt, va_list ap) {
    char msg[GR_ERRBUF];
    vsnprintf(msg, sizeof msg, fmt, ap);
    set_err(ctx, msg);
    return -1;
}

int gr_fail(struct gr_ctx *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    gr_vfail(ctx, fmt, ap);
    va_end(ap);
    return -1;
}

int gr_fail_at(struct gr_ctx *ctx, const char *file, int line, int col, const char *fmt, ...) {
    char msg[GR_ERRBUF - 256]; /* room for the location */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0) return gr_fail(ctx, "%s:%d:%d: %s", file, line, col, msg);
    return gr_fail(ctx, "%s: %s", file, msg);
}

void *gr_alloc(struct gr_ctx *ctx, size_t bytes) {
    void *p = ctx->mem.alloc(ctx->mem.ud, bytes, 64);
    ctx->n_allocs++;
    if (!p) gr_fail(ctx, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *gr_calloc(struct gr_ctx *ctx, size_t n, size_t size) {
    size_t bytes;
    if (gr_mul_size(n, size, &bytes)) {
        gr_fail(ctx, "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    void *p = gr_alloc(ctx, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void gr_free(struct gr_ctx *ctx, void *p) {
    if (p) ctx->mem.free(ctx->mem.ud, p);
}

char *gr_strdup(struct gr_ctx *ctx, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = gr_alloc(ctx, n);
    if (d) memcpy(d, s, n);
    return d;
}

int gr_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}
