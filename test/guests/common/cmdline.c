/* Copies the cmdline out of the hypervisor's low memory and looks up
 * key=value words in it. Runs at CPL3 (all RAM is mapped user-accessible). */
#include "guest.h"

#define CMDLINE_MAX 1024
static char line[CMDLINE_MAX];

void cmdline_init(const char *src)
{
	int i = 0;
	if (src)
		for (; i < CMDLINE_MAX - 1 && src[i]; i++)
			line[i] = src[i];
	line[i] = 0;
}

const char *cmdline_raw(void) { return line; }

const char *cmdline_get(const char *key)
{
	for (const char *w = line; *w;) {
		while (*w == ' ') w++;
		const char *k = key, *p = w;
		while (*k && *p == *k) { p++; k++; }
		if (!*k && *p == '=')
			return p + 1;
		while (*w && *w != ' ') w++;   /* next word */
	}
	return 0;
}

uint64_t cmdline_u64(const char *key, uint64_t dflt)
{
	const char *v = cmdline_get(key);
	if (!v || *v < '0' || *v > '9')
		return dflt;
	uint64_t n = 0;
	while (*v >= '0' && *v <= '9')
		n = n * 10 + (uint64_t)(*v++ - '0');
	return n;
}
