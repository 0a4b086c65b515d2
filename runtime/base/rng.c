#include "runtime/base/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void gr_rng_seed(struct gr_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t gr_rng_u64(struct gr_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float gr_rng_uniform(struct gr_rng *r) {
    return (float)(gr_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

float gr_rng_normal(struct gr_rng *r) {
    /* u1 in (0, 1] so the log is finite */
    double u1 = ((double)(gr_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(gr_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2));
}

uint64_t gr_rng_below(struct gr_rng *r, uint64_t n) {
    /* reject the top partial range so every residue is equally likely */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = gr_rng_u64(r);
    while (x >= limit);
    return x % n;
}

/* ---- Philox-4x32-10 ------------------------------------------------------ */

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* the golden ratio, the key's increment */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

void gr_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0, hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t gr_rng_node_key(uint64_t seed, const char *name) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    return mix64(h ^ mix64(seed + 0x9e3779b97f4a7c15ull));
}

void gr_rng_uniform_at(uint64_t key, int64_t step, int64_t offset, int64_t n, float *out) {
    const uint32_t k[2] = {(uint32_t)key, (uint32_t)(key >> 32)};
    uint64_t s = (uint64_t)step;
    uint32_t words[4];
    int64_t have = -1; /* the block in `words` */
    for (int64_t i = 0; i < n; i++) {
        uint64_t e = (uint64_t)(offset + i), block = e >> 2;
        if ((int64_t)block != have) {
            const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)s, (uint32_t)(s >> 32)};
            gr_philox4x32(ctr, k, words);
            have = (int64_t)block;
        }
        out[i] = (float)(words[e & 3] >> 8) * (1.0f / 16777216.0f);
    }
}
