/* vrnd: reads random bytes from a virtio-rnd device (virtio 1.x modern
 * PCI, 1af4:1044) on the driver core (common/virtio-pci.c), one polled
 * request queue, one device-writable buffer per request of up to 4096
 * bytes (the device may return fewer: the used length says how many).
 *
 * cmdline: bytes=N [4096; at most 16 MiB]
 *
 * Output, exactly (then power off):
 *   virtio-rnd at 0:<slot>.0
 *   rnd <N> bytes distinct <count of distinct byte values>
 * or `rnd error all <N> bytes are <value>` when every byte is the same
 * (the buffer is poisoned with zeros first), `virtio error ...` for device
 * problems. */
#include "guest.h"
#include "virtio-pci.h"

#define QBASE     0x1000000ULL
#define DATA_AT   (QBASE + 0x10000)
#define BYTES_MAX (16ULL << 20)
#define CHUNK     4096
#define SPINS     4096
#define TIMEOUT_CHECKS 60000   /* ~10 s of guest time, as vblk */

static struct vdev dev;
static struct vq q;

/* One request for `len` bytes at `at`; returns the used length, or -1. */
static int64_t request(uint64_t at, uint32_t len)
{
	vq_set_desc(&q, 0, at, len, DESC_WRITE, 0);
	vq_add(&q, 0);
	vq_kick(&q);
	for (uint32_t checks = 0; !vq_used_pending(&q);) {
		for (uint32_t i = 0; i < SPINS && !vq_used_pending(&q); i++)
			__asm__ volatile("pause");
		if (vq_used_pending(&q))
			break;
		uint8_t st = vio_status(&dev);
		if (st & (S_NEEDS_RESET | S_FAILED))
			return vio_fail_n("device needs reset, status", st);
		if (++checks == TIMEOUT_CHECKS)
			return vio_fail_n("timeout rnd request at byte", at - DATA_AT);
	}
	uint32_t id, used;
	vq_pop(&q, &id, &used);
	if (id != 0)
		return vio_fail_n("used ring returned id", id);
	if (used > len)
		return vio_fail_n("used length beyond the buffer", used);
	return used;
}

int main(void)
{
	uint64_t n = cmdline_u64("bytes", 4096);
	if (n < 1 || n > BYTES_MAX) {
		puts_serial("vrnd: bytes must be 1-16777216\n");
		return 0;
	}
	if (vio_find(&dev, VIRTIO_ID_RNG, "virtio-rnd", 0) || vio_negotiate(&dev, 0) ||
	    vq_setup(&dev, &q, 0, 8, QBASE, NO_VECTOR, 1) || vio_driver_ok(&dev))
		return 0;
	puts_serial("virtio-rnd at 0:");
	put_dec((uint64_t)dev.slot);
	puts_serial(".0\n");

	volatile uint8_t *buf = (volatile uint8_t *)DATA_AT;
	for (uint64_t i = 0; i < n; i++)
		buf[i] = 0;
	uint64_t got = 0;
	for (int empty = 0; got < n;) {
		uint32_t len = n - got < CHUNK ? (uint32_t)(n - got) : CHUNK;
		int64_t r = request(DATA_AT + got, len);
		if (r < 0)
			return 0;
		if (r == 0 && ++empty == 16) {
			vio_fail_n("16 empty rnd requests at byte", got);
			return 0;
		}
		got += (uint64_t)r;
	}

	uint8_t seen[256] = { 0 };
	unsigned distinct = 0;
	for (uint64_t i = 0; i < n; i++)
		if (!seen[buf[i]]) {
			seen[buf[i]] = 1;
			distinct++;
		}
	if (distinct == 1 && n > 1) {
		puts_serial("rnd error all ");
		put_dec(n);
		puts_serial(" bytes are ");
		put_dec(buf[0]);
		putc_serial('\n');
		return 0;
	}
	puts_serial("rnd ");
	put_dec(n);
	puts_serial(" bytes distinct ");
	put_dec(distinct);
	putc_serial('\n');
	return 0;
}
