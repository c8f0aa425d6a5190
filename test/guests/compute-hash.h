/* The compute guest's hash chain, shared verbatim by the guest (compute.c)
 * and the host reference (compute-reference.c) so their output must agree.
 * FNV-1a-style: each step folds a slow mix of (h ^ step) back into h. The
 * inner loop is a dependent chain (shift, xor, multiply, add) sized so one
 * step takes about a microsecond natively. */
#ifndef COMPUTE_HASH_H
#define COMPUTE_HASH_H
#include <stdint.h>

#define COMPUTE_H0    0xcbf29ce484222325ULL
#define COMPUTE_PRIME 0x100000001b3ULL
#define COMPUTE_INNER 600

static inline uint64_t compute_step(uint64_t h, uint64_t i)
{
	uint64_t x = h ^ i;
	for (uint32_t j = 0; j < COMPUTE_INNER; j++) {
		x ^= x >> 29;
		x *= COMPUTE_PRIME;
		x += j;
	}
	return (h ^ x) * COMPUTE_PRIME;
}
#endif
