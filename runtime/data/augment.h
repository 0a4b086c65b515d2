/* Augmentation of training images: random shifts, small rotations and
 * random erasing, applied to each sample of a batch as it is converted to
 * the model's floats.
 *
 * Every sample's draws come from a generator of its own, seeded with the
 * run's seed and the sample's draw number (how many samples the run's
 * sampler handed out before it: epoch * N + position), so they depend on
 * nothing else: not on the thread that converts it, not on the batches
 * before it, and a run resumed from a checkpoint (which restores the
 * sampler) draws exactly what the unbroken run drew. The draws, in order:
 *
 *   shift s > 0:   dy = below(2s + 1) - s, then dx likewise (pixels)
 *   rotate r > 0:  angle = (2 u - 1) r degrees
 *   erase p > 0:   erase if u < p; then the area a = lo + (hi - lo) u (a
 *                  fraction of the image's), the aspect ratio
 *                  e = exp(ln 0.3 + (ln 3.3 - ln 0.3) u), the rectangle's
 *                  height round(sqrt(a H W e)) and width round(sqrt(a H W
 *                  / e)) (each at least 1, at most the image's), and its
 *                  top row below(H - h + 1) and left column below(W - w + 1)
 *
 * (below(n): gr_rng_below, u: gr_rng_uniform). An image [H, W] or
 * [H, W, C] (channels last) is moved by (dy, dx) and turned by the angle
 * about its centre; pixels that come from outside the image are 0 (the
 * value of byte 0 after data.pixel_range); rotated pixels are bilinear
 * blends of their four neighbours; an erased rectangle is 0 too. A shift
 * alone copies pixels exactly. */
#ifndef GR_DATA_AUGMENT_H
#define GR_DATA_AUGMENT_H

#include <stdint.h>

#include "runtime/data/array.h"

struct gr_augment {
    int64_t shift;     /* at most this many pixels along each axis; 0: none */
    double rotate;     /* at most this many degrees either way; 0: none */
    double erase_p;    /* the probability of erasing a rectangle; 0: never */
    double erase_lo, erase_hi; /* its area, a fraction of the image's */
    uint64_t seed;     /* the run's */
};

/* What one sample draws. */
struct gr_augment_draw {
    int64_t dy, dx;
    double angle; /* degrees */
    int erase;
    int64_t ey, ex, eh, ew; /* the erased rectangle: top, left, height, width */
};

void gr_augment_draw(const struct gr_augment *a, int64_t h, int64_t w, int64_t draw, struct gr_augment_draw *out);

/* One sample: src (h * w * c values of `type`, uint8 or float32) into dst
 * (floats), moved, turned and erased as dr says; uint8 values are mapped
 * onto [lo, hi] as gr_bytes_to_floats maps them. */
void gr_augment_apply(const struct gr_augment_draw *dr, enum gr_array_type type, const void *src, int64_t h,
                      int64_t w, int64_t c, float lo, float hi, float *dst);

#endif
