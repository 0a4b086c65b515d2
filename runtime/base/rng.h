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

#endif
