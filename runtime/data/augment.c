#include "runtime/data/augment.h"

#include <math.h>
#include <string.h>

#include "runtime/base/rng.h"

#define PI 3.14159265358979323846

/* A sample's own generator: the run's seed, kept apart from the other
 * streams seeded from it by a constant ("augment"), mixed with the draw
 * number (gr_rng_seed's splitmix64 spreads neighbouring keys apart). */
static void sample_rng(struct gr_rng *r, uint64_t seed, int64_t draw) {
    gr_rng_seed(r, ((seed ^ 0x6175676d656e74ULL) * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)draw);
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

void gr_augment_draw(const struct gr_augment *a, int64_t h, int64_t w, int64_t draw, struct gr_augment_draw *out) {
    memset(out, 0, sizeof *out);
    struct gr_rng r;
    sample_rng(&r, a->seed, draw);
    if (a->shift > 0) {
        uint64_t span = 2 * (uint64_t)a->shift + 1;
        out->dy = (int64_t)gr_rng_below(&r, span) - a->shift;
        out->dx = (int64_t)gr_rng_below(&r, span) - a->shift;
    }
    if (a->rotate > 0) out->angle = (2.0 * (double)gr_rng_uniform(&r) - 1.0) * a->rotate;
    if (a->erase_p > 0 && (double)gr_rng_uniform(&r) < a->erase_p) {
        double area = a->erase_lo + (a->erase_hi - a->erase_lo) * (double)gr_rng_uniform(&r);
        double aspect = exp(log(0.3) + (log(3.3) - log(0.3)) * (double)gr_rng_uniform(&r));
        double px = area * (double)h * (double)w;
        out->erase = 1;
        out->eh = clamp((int64_t)llround(sqrt(px * aspect)), 1, h);
        out->ew = clamp((int64_t)llround(sqrt(px / aspect)), 1, w);
        out->ey = (int64_t)gr_rng_below(&r, (uint64_t)(h - out->eh + 1));
        out->ex = (int64_t)gr_rng_below(&r, (uint64_t)(w - out->ew + 1));
    }
}

/* The stored value at (y, x, ch), 0 outside the image. */
static float at(enum gr_array_type type, const void *src, int64_t h, int64_t w, int64_t c, int64_t y, int64_t x,
                int64_t ch) {
    if (y < 0 || y >= h || x < 0 || x >= w) return 0.0f;
    int64_t i = (y * w + x) * c + ch;
    return type == GR_ARRAY_U8 ? (float)((const uint8_t *)src)[i] : ((const float *)src)[i];
}

/* Stored values are mapped as gr_bytes_to_floats maps bytes. */
static float mapped(enum gr_array_type type, float v, float lo, float scale) {
    return type == GR_ARRAY_U8 ? lo + scale * v : v;
}

/* out(y, x) = src(y - dy, x - dx): whole pixels, copied exactly. */
static void shifted(const struct gr_augment_draw *dr, enum gr_array_type type, const void *src, int64_t h, int64_t w,
                    int64_t c, float lo, float scale, float *dst) {
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++)
            for (int64_t ch = 0; ch < c; ch++)
                dst[(y * w + x) * c + ch] = mapped(type, at(type, src, h, w, c, y - dr->dy, x - dr->dx, ch), lo, scale);
}

/* out(p) = src(R(-angle) (p - centre - d) + centre), bilinear: the image
 * moved by d and turned by the angle about its centre. */
static void turned(const struct gr_augment_draw *dr, enum gr_array_type type, const void *src, int64_t h, int64_t w,
                   int64_t c, float lo, float scale, float *dst) {
    double th = dr->angle * PI / 180.0, co = cos(th), si = sin(th);
    double cy = (double)(h - 1) / 2, cx = (double)(w - 1) / 2;
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            double u = (double)(y - dr->dy) - cy, v = (double)(x - dr->dx) - cx;
            double sy = cy + co * u - si * v, sx = cx + si * u + co * v;
            double fy0 = floor(sy), fx0 = floor(sx);
            int64_t y0 = (int64_t)fy0, x0 = (int64_t)fx0;
            float fy = (float)(sy - fy0), fx = (float)(sx - fx0);
            for (int64_t ch = 0; ch < c; ch++) {
                float top = (1 - fx) * at(type, src, h, w, c, y0, x0, ch) + fx * at(type, src, h, w, c, y0, x0 + 1, ch);
                float bot = (1 - fx) * at(type, src, h, w, c, y0 + 1, x0, ch) +
                            fx * at(type, src, h, w, c, y0 + 1, x0 + 1, ch);
                dst[(y * w + x) * c + ch] = mapped(type, (1 - fy) * top + fy * bot, lo, scale);
            }
        }
}

void gr_augment_apply(const struct gr_augment_draw *dr, enum gr_array_type type, const void *src, int64_t h,
                      int64_t w, int64_t c, float lo, float hi, float *dst) {
    float scale = (hi - lo) / 255.0f;
    if (dr->angle != 0) turned(dr, type, src, h, w, c, lo, scale, dst);
    else shifted(dr, type, src, h, w, c, lo, scale, dst);
    if (!dr->erase) return;
    float fill = mapped(type, 0.0f, lo, scale);
    for (int64_t y = dr->ey; y < dr->ey + dr->eh; y++)
        for (int64_t x = dr->ex; x < dr->ex + dr->ew; x++)
            for (int64_t ch = 0; ch < c; ch++) dst[(y * w + x) * c + ch] = fill;
}
