/* exp, sigmoid and tanh written so that a loop calling them vectorizes
 * (no libm calls, no branches): the LSTM spends most of its pointwise time
 * here, and glibc's scalar expf/tanhf took over half of a training step.
 *
 * exp(x) = 2^n * e^r with n = round(x / ln 2), r = x - n ln 2 (ln 2 split in
 * two parts so r is exact to float precision), e^r by a degree-7 polynomial
 * on |r| <= ln2 / 2 (the Cephes single-precision coefficients); relative
 * error below 2e-7 over the clamped range [-87.3, 88.3].
 * sigmoid(x) = 1 / (1 + exp(-x));  tanh(x) = 1 - 2 / (exp(2x) + 1), whose
 * absolute error stays below 3e-7. */
#ifndef GR_OPS_FASTMATH_H
#define GR_OPS_FASTMATH_H

#include <stdint.h>
#include <string.h>

static inline float gr_exp(float x) {
    if (x != x) return x; /* NaN: (int32_t)n below would be undefined */
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x; /* n <= 127 keeps 2^n finite */
    /* round to nearest by the 1.5 * 2^23 trick: exact for |t| < 2^22 */
    float t = x * 1.44269504088896341f + 12582912.0f;
    float n = t - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float gr_sigmoid(float x) { return 1.0f / (1.0f + gr_exp(-x)); }

static inline float gr_tanh(float x) { return 1.0f - 2.0f / (gr_exp(2.0f * x) + 1.0f); }

/* With AVX-512, the same functions on 16 floats at once, dividing by a
 * reciprocal estimate refined by one Newton step (r' = r (2 - d r), relative
 * error about 1e-7): the division was a third of the gate math's time. */
#if defined(__AVX512F__)
#include <immintrin.h>
#define GR_HAVE_V16 1

/* gr_exp16 of n vectors side by side (n a constant after inlining, at most
 * GR_EXP16_MAX): each step on all n before the next. One exp16 is a chain of
 * 15 dependent operations; written one after another, a few such chains
 * fill the scheduler and leave the FMA ports waiting on latency, written
 * side by side they issue together. Each lane gets the same operations as
 * alone, so the same bits. */
#define GR_EXP16_MAX 8
static inline __attribute__((always_inline)) void gr_exp16_n(int n, __m512 *x) {
    __m512 t[GR_EXP16_MAX], r[GR_EXP16_MAX], p[GR_EXP16_MAX];
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++) {
        x[k] = _mm512_min_ps(_mm512_max_ps(x[k], _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
        t[k] = _mm512_fmadd_ps(x[k], _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(12582912.0f));
    }
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++) t[k] = _mm512_sub_ps(t[k], _mm512_set1_ps(12582912.0f));
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++) r[k] = _mm512_fnmadd_ps(t[k], _mm512_set1_ps(0.693359375f), x[k]);
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++) {
        r[k] = _mm512_fnmadd_ps(t[k], _mm512_set1_ps(-2.12194440e-4f), r[k]);
        p[k] = _mm512_set1_ps(1.9875691500e-4f);
    }
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++) p[k] = _mm512_fmadd_ps(p[k], r[k], _mm512_set1_ps(1.3981999507e-3f));
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++) p[k] = _mm512_fmadd_ps(p[k], r[k], _mm512_set1_ps(8.3334519073e-3f));
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++) p[k] = _mm512_fmadd_ps(p[k], r[k], _mm512_set1_ps(4.1665795894e-2f));
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++) p[k] = _mm512_fmadd_ps(p[k], r[k], _mm512_set1_ps(1.6666665459e-1f));
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++) p[k] = _mm512_fmadd_ps(p[k], r[k], _mm512_set1_ps(5.0000001201e-1f));
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++)
        p[k] = _mm512_fmadd_ps(_mm512_mul_ps(p[k], r[k]), r[k], _mm512_add_ps(r[k], _mm512_set1_ps(1.0f)));
    /* p * 2^n in one instruction (n is a whole number in [-126, 127]): the
     * same bits as multiplying by 2^n built in its exponent field, checked
     * for every third float bit pattern (tests/test_ops.c) */
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++) x[k] = _mm512_scalef_ps(p[k], t[k]);
}

/* gr_exp on n vectors side by side (at most GR_EXP16_ISO_MAX), lane for
 * lane the scalar function as built (ISO C: a product then a sum, never
 * fused; the clamps keep a NaN as the scalar comparisons do), for code
 * whose bits are those of scalar loops (ops/gru_cell.c); gr_exp16_n fuses. */
#define GR_EXP16_ISO_MAX 16
static inline __attribute__((always_inline)) void gr_exp16_iso_n(int n, __m512 *x) {
    static const float poly[5] = {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f,
                                  5.0000001201e-1f};
    __m512 t[GR_EXP16_ISO_MAX], r[GR_EXP16_ISO_MAX], p[GR_EXP16_ISO_MAX];
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    _Pragma("GCC unroll 16") for (int k = 0; k < n; k++) {
        x[k] = _mm512_min_ps(_mm512_set1_ps(88.3f), _mm512_max_ps(_mm512_set1_ps(-87.3f), x[k]));
        t[k] = _mm512_add_ps(_mm512_mul_ps(x[k], _mm512_set1_ps(1.44269504088896341f)), magic);
    }
    _Pragma("GCC unroll 16") for (int k = 0; k < n; k++) t[k] = _mm512_sub_ps(t[k], magic);
    _Pragma("GCC unroll 16") for (int k = 0; k < n; k++) {
        r[k] = _mm512_sub_ps(x[k], _mm512_mul_ps(t[k], _mm512_set1_ps(0.693359375f)));
        r[k] = _mm512_sub_ps(r[k], _mm512_mul_ps(t[k], _mm512_set1_ps(-2.12194440e-4f)));
        p[k] = _mm512_set1_ps(1.9875691500e-4f);
    }
    _Pragma("GCC unroll 5") for (int c = 0; c < 5; c++) {
        _Pragma("GCC unroll 16") for (int k = 0; k < n; k++) {
            p[k] = _mm512_add_ps(_mm512_mul_ps(p[k], r[k]), _mm512_set1_ps(poly[c]));
        }
    }
    _Pragma("GCC unroll 16") for (int k = 0; k < n; k++) {
        p[k] = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p[k], r[k]), r[k]), r[k]), _mm512_set1_ps(1.0f));
    }
    _Pragma("GCC unroll 16") for (int k = 0; k < n; k++) {
        __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(t[k]), _mm512_set1_epi32(127)), 23);
        x[k] = _mm512_mul_ps(p[k], _mm512_castsi512_ps(e));
    }
}

static inline __m512 gr_exp16(__m512 x) {
    gr_exp16_n(1, &x);
    return x;
}

static inline __m512 gr_rcp16(__m512 d) {
    __m512 r = _mm512_rcp14_ps(d);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
}

static inline __m512 gr_sigmoid16(__m512 x) {
    return gr_rcp16(_mm512_add_ps(_mm512_set1_ps(1.0f), gr_exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

static inline __m512 gr_tanh16(__m512 x) {
    __m512 e = gr_exp16(_mm512_add_ps(x, x));
    return _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), gr_rcp16(_mm512_add_ps(e, _mm512_set1_ps(1.0f))), _mm512_set1_ps(1.0f));
}
#endif

#endif
