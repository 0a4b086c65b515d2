/* A small, seedable random generator (xoshiro256**), carried by the context so
 * a run is reproducible from its config's seed. */
#ifndef GR_RNG_H
#define GR_RNG_H

#include <stdint.h>

struct gr_rng {
    uint64_t s[4];
};

/* Expand a 64-bit seed into the state with splitmix64. */
void gr_rng_seed(struct gr_rng *r, uint64_t seed);
uint64_t gr_rng_u64(struct gr_rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float gr_rng_uniform(struct gr_rng *r);
/* Standard normal (Box-Muller, one value per call). */
float gr_rng_normal(struct gr_rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint64_t gr_rng_below(struct gr_rng *r, uint64_t n);

/* ---- the counter-based generator kernels draw from ----
 *
 * Philox-4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as
 * easy as 1, 2, 3", SC 2011): out = a bijection of the 128-bit counter
 * under a 64-bit key, ten rounds. No state: any value can be drawn in any
 * order, on any thread. */
void gr_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* A node's stream key: its name (FNV-1a, 64 bits) and the run's seed,
 * mixed (splitmix64's finalizer):
 *   key = mix(fnv1a64(name) ^ mix(seed + 0x9e3779b97f4a7c15))
 * Keyed by name, a node keeps its stream when nodes are added elsewhere. */
uint64_t gr_rng_node_key(uint64_t seed, const char *name);

/* out[i] for i in [0, n): uniform in [0, 1) from the top 24 bits of word
 * (offset + i) mod 4 of Philox(counter = [(offset + i) / 4 low, high, step
 * low, step high], key = [key low, key high]). */
void gr_rng_uniform_at(uint64_t key, int64_t step, int64_t offset, int64_t n, float *out);

#endif
