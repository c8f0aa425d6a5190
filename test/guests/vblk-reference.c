/* Host reference for the vblk guest: the image bytes the guest writes.
 * Usage: vblk-reference [sectors=N] [seed=S]   (defaults 4096 and 1, any order)
 * stdout: the N sectors' bytes (N * 512), for `cmp` against the disk image;
 * stderr: write done <16 hex>, the line the guest prints after writing
 * (also its verify ok hash). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vblk-pattern.h"

int main(int argc, char **argv)
{
	uint64_t sectors = 4096, seed = 1;
	for (int a = 1; a < argc; a++) {
		if (!strncmp(argv[a], "sectors=", 8)) sectors = strtoull(argv[a] + 8, 0, 10);
		else if (!strncmp(argv[a], "seed=", 5)) seed = strtoull(argv[a] + 5, 0, 10);
		else {
			fprintf(stderr, "usage: %s [sectors=N] [seed=S]\n", argv[0]);
			return 2;
		}
	}
	uint64_t h = VBLK_FNV_OFFSET;
	uint8_t buf[VBLK_SECTOR];
	for (uint64_t i = 0; i < sectors; i++) {
		vblk_fill_sector(buf, seed, i);
		h = vblk_fnv(h, buf, VBLK_SECTOR);
		if (fwrite(buf, 1, VBLK_SECTOR, stdout) != VBLK_SECTOR) {
			perror("vblk-reference: stdout");
			return 1;
		}
	}
	if (fflush(stdout) != 0) {
		perror("vblk-reference: stdout");
		return 1;
	}
	fprintf(stderr, "write done %016" PRIx64 "\n", h);
	return 0;
}
