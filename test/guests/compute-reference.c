/* Host reference for the compute guest: same cmdline keys, same output.
 * Usage: compute-reference [steps=N] [every=K]   (arguments in any order) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "compute-hash.h"

int main(int argc, char **argv)
{
	uint64_t steps = 1000, every = 100;
	for (int a = 1; a < argc; a++) {
		if (!strncmp(argv[a], "steps=", 6)) steps = strtoull(argv[a] + 6, 0, 10);
		else if (!strncmp(argv[a], "every=", 6)) every = strtoull(argv[a] + 6, 0, 10);
	}
	uint64_t h = COMPUTE_H0;
	for (uint64_t i = 0; i < steps; i++) {
		h = compute_step(h, i);
		if (every && (i + 1) % every == 0)
			printf("step %" PRIu64 " %016" PRIx64 "\n", i + 1, h);
	}
	printf("done %016" PRIx64 "\n", h);
	return 0;
}
