/* The virtio-blk guest's disk contents, shared verbatim by the guest
 * (vblk.c) and the host reference (vblk-reference.c) so that an image the
 * guest wrote can be compared byte for byte with `cmp`.
 * Sector i (512 bytes) holds 64 little-endian words of a splitmix64 stream
 * whose start depends on the seed and on i only, so the content of a sector
 * does not depend on how requests group or order the sectors. The hash is
 * FNV-1a 64 over the bytes of sectors 0, 1, ... in order. */
#ifndef VBLK_PATTERN_H
#define VBLK_PATTERN_H
#include <stdint.h>

#define VBLK_SECTOR     512
#define VBLK_FNV_OFFSET 0xcbf29ce484222325ULL
#define VBLK_FNV_PRIME  0x100000001b3ULL
#define VBLK_GOLDEN     0x9e3779b97f4a7c15ULL

static inline uint64_t vblk_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Fills buf[0..511] with sector `sector`'s content for `seed`. */
static inline void vblk_fill_sector(uint8_t *buf, uint64_t seed, uint64_t sector)
{
	uint64_t s = vblk_mix(seed ^ vblk_mix(sector + VBLK_GOLDEN));
	for (int w = 0; w < VBLK_SECTOR / 8; w++) {
		s += VBLK_GOLDEN;
		uint64_t v = vblk_mix(s);
		for (int b = 0; b < 8; b++)
			buf[8 * w + b] = (uint8_t)(v >> (8 * b));
	}
}

static inline uint64_t vblk_fnv(uint64_t h, const uint8_t *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= VBLK_FNV_PRIME;
	}
	return h;
}
#endif
