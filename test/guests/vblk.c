/* vblk: a virtio-blk (virtio 1.x, modern PCI) driver in miniature, all at
 * CPL3, on the guest kit's driver core (common/virtio-pci.c: config
 * mechanism #1 to find the device and its capabilities, MMIO to BAR 4):
 * one split virtqueue polled in RAM (no interrupts: queue_msix_vector =
 * NO_VECTOR, avail flags NO_INTERRUPT).
 *
 * cmdline: sectors=N [4096]  batch=B [16; requests in flight, at most
 * queue size / 3]  per=P [1; sectors per request, 1-64]  seed=S [1]
 * mode=write|verify|both [both]. Sector i holds vblk_fill_sector(seed, i)
 * (vblk-pattern.h); build/vblk-reference prints the same image.
 *
 * Output, exactly (then power off):
 *   virtio-blk at <bus>:<slot>.<fn> capacity <sectors>
 *   id <GET_ID string>
 *   mode write/both:  written <k> (every 512 sectors), flush ok (when
 *                     VIRTIO_BLK_F_FLUSH was negotiated), write done <16 hex>
 *   mode verify/both: read <k> (every 512 sectors), then
 *                     verify ok <16 hex> or verify bad sector <i>
 * <16 hex> is FNV-1a 64 of the N sectors' bytes in order. Any device
 * problem: virtio error <what>, and power off. */
#include "guest.h"
#include "vblk-pattern.h"
#include "virtio-pci.h"

/* ---- virtio-blk numbers (virtio 1.2, 5.2) ---------------------------- */

#define F_BLK_FLUSH      (1ULL << 9)

#define T_IN             0
#define T_OUT            1
#define T_FLUSH          4
#define T_GET_ID         8

/* ---- guest RAM used by the driver (at 16 MiB, page aligned) ---------- */

#define QMAX       64
#define QBASE      0x1000000ULL       /* the queue's rings: VQ_BYTES */
#define HDR_AT     (QBASE + 0x3000)   /* 16 bytes per slot */
#define STATUS_AT  (QBASE + 0x4000)   /* 1 byte per slot */
#define ID_AT      (QBASE + 0x5000)   /* GET_ID's 20 bytes */
#define DATA_AT    (QBASE + 0x10000)  /* PER_MAX * 512 bytes per slot */
#define PER_MAX    64
#define SLOTS_MAX  (QMAX / 3)

struct blk_hdr { uint32_t type, reserved; uint64_t sector; };

static volatile struct blk_hdr *const hdrs = (volatile void *)HDR_AT;
static volatile uint8_t *const statuses = (volatile void *)STATUS_AT;

/* ---- device state ----------------------------------------------------- */

static struct vdev dev;
static struct vq rq;   /* the request queue */

static uint64_t capacity(void)
{
	uint8_t g;
	uint64_t c;
	do {
		g = vio_generation(&dev);
		c = vio_cfg32(&dev, 0) | (uint64_t)vio_cfg32(&dev, 4) << 32;
	} while (g != vio_generation(&dev));
	return c;
}

/* virtio 1.2, 3.1.1, polled: queue_msix_vector = NO_VECTOR, avail flags NO_INTERRUPT. */
static int init_device(void)
{
	if (vio_negotiate(&dev, F_BLK_FLUSH))
		return -1;
	if (vq_setup(&dev, &rq, 0, QMAX, QBASE, NO_VECTOR, 1))
		return -1;
	return vio_driver_ok(&dev);
}

/* ---- requests ----------------------------------------------------------- */

/* Between status checks, about 170 us of `pause` here; ~10 s in all before
 * giving up. Counted in guest time: a paused or snapshotted VM does not time out. */
#define SPINS          4096
#define TIMEOUT_CHECKS 60000

static const char *op_name(uint32_t type)
{
	return type == T_IN ? "read" : type == T_OUT ? "write" : type == T_FLUSH ? "flush" : "get-id";
}

/* Puts request slot s (descriptors 3s, 3s+1, 3s+2) on the available ring;
 * `bytes` of data at `data` (none for a flush). Published by kick(). */
static void submit(unsigned s, uint32_t type, uint64_t sector, uint64_t data, uint32_t bytes)
{
	unsigned d = 3 * s;
	hdrs[s].type = type;
	hdrs[s].reserved = 0;
	hdrs[s].sector = sector;
	statuses[s] = 0xff;
	vq_set_desc(&rq, (uint16_t)d, HDR_AT + 16 * s, 16, DESC_NEXT, (uint16_t)(bytes ? d + 1 : d + 2));
	if (bytes)
		vq_set_desc(&rq, (uint16_t)(d + 1), data, bytes, DESC_NEXT | (type == T_OUT ? 0 : DESC_WRITE), (uint16_t)(d + 2));
	vq_set_desc(&rq, (uint16_t)(d + 2), STATUS_AT + s, 1, DESC_WRITE, 0);
	vq_add(&rq, (uint16_t)d);
}

static void kick(void) { vq_kick(&rq); }

/* Per slot: in flight, completed (not yet retired), used length. */
static uint8_t busy[SLOTS_MAX], done[SLOTS_MAX];
static uint32_t used_len[SLOTS_MAX];

/* Waits for at least one used element and marks its slots done. */
static int reap(uint32_t type, uint64_t sector)
{
	for (uint32_t checks = 0; !vq_used_pending(&rq);) {
		for (uint32_t i = 0; i < SPINS && !vq_used_pending(&rq); i++)
			__asm__ volatile("pause");
		if (vq_used_pending(&rq))
			break;
		uint8_t st = vio_status(&dev);
		if (st & (S_NEEDS_RESET | S_FAILED))
			return vio_fail_n("device needs reset, status", st);
		if (++checks == TIMEOUT_CHECKS) {
			puts_serial("virtio error timeout ");
			puts_serial(op_name(type));
			puts_serial(" sector ");
			put_dec(sector);
			putc_serial('\n');
			return -1;
		}
	}
	barrier();
	uint16_t now = rq.used->idx;
	if ((uint16_t)(now - rq.last_used) > rq.size)
		return vio_fail_n("used idx ran ahead", now);
	while (rq.last_used != now) {
		uint32_t id, len;
		vq_pop(&rq, &id, &len);
		uint32_t s = id / 3;
		if (id % 3 || s >= SLOTS_MAX || !busy[s] || done[s])
			return vio_fail_n("used ring returned id", id);
		done[s] = 1;
		used_len[s] = len;
	}
	return 0;
}

/* Checks a completed request's status byte and used length. */
static int check_done(unsigned s, uint32_t type, uint64_t sector, uint32_t bytes)
{
	uint8_t st = statuses[s];
	uint32_t want = type == T_IN ? bytes + 1 : 1;
	if (st != 0 || (type == T_GET_ID ? used_len[s] < 1 || used_len[s] > 21 : used_len[s] != want)) {
		puts_serial("virtio error ");
		puts_serial(op_name(type));
		puts_serial(" sector ");
		put_dec(sector);
		puts_serial(st ? " status " : " used length ");
		put_dec(st ? st : used_len[s]);
		putc_serial('\n');
		return -1;
	}
	return 0;
}

/* One request on its own (flush, get-id), with nothing else in flight. */
static int single(uint32_t type, uint64_t data, uint32_t bytes)
{
	busy[0] = 1;
	done[0] = 0;
	submit(0, type, 0, data, bytes);
	kick();
	while (!done[0])
		if (reap(type, 0))
			return -1;
	busy[0] = 0;
	return check_done(0, type, 0, bytes);
}

/* Lets the requests still in flight complete (errors ignored): power-off follows. */
static void drain(unsigned batch)
{
	for (unsigned s = 0; s < batch; s++)
		while (busy[s] && !done[s])
			if (reap(T_IN, 0))
				return;
}

static uint64_t data_at(unsigned s) { return DATA_AT + (uint64_t)s * PER_MAX * VBLK_SECTOR; }

/* Writes (T_OUT) or reads and verifies (T_IN) sectors [0, n): up to `batch`
 * requests of `per` sectors in flight, retired in order. */
static int run_io(uint32_t type, uint64_t n, unsigned batch, unsigned per, uint64_t seed, uint64_t *hash)
{
	uint64_t next = 0, retired = 0, report = 512, sub = 0, ret = 0;
	uint64_t first[SLOTS_MAX];
	uint32_t count[SLOTS_MAX];
	uint64_t h = VBLK_FNV_OFFSET;
	uint8_t expect[VBLK_SECTOR];
	for (;;) {
		int added = 0;
		while (sub - ret < batch && next < n) {
			unsigned s = (unsigned)(sub % batch);
			uint32_t c = n - next < per ? (uint32_t)(n - next) : per;
			uint8_t *buf = (uint8_t *)data_at(s);
			if (type == T_OUT) {
				for (uint32_t k = 0; k < c; k++)
					vblk_fill_sector(buf + k * VBLK_SECTOR, seed, next + k);
				h = vblk_fnv(h, buf, (uint64_t)c * VBLK_SECTOR);
			} else {
				/* poison: a read that moves no data must not pass for a good one */
				for (uint32_t k = 0; k < c * VBLK_SECTOR / 8; k++)
					((volatile uint64_t *)buf)[k] = 0xdeadbeefdeadbeefULL;
			}
			first[s] = next;
			count[s] = c;
			busy[s] = 1;
			done[s] = 0;
			submit(s, type, next, (uint64_t)buf, c * VBLK_SECTOR);
			next += c;
			sub++;
			added = 1;
		}
		if (added)
			kick();
		if (ret == sub)
			break;
		if (reap(type, first[ret % batch]))
			return -1;
		while (ret < sub && done[ret % batch]) {
			unsigned s = (unsigned)(ret % batch);
			if (check_done(s, type, first[s], count[s] * VBLK_SECTOR))
				return -1;
			if (type == T_IN) {
				const uint8_t *buf = (const uint8_t *)data_at(s);
				for (uint32_t k = 0; k < count[s]; k++) {
					vblk_fill_sector(expect, seed, first[s] + k);
					for (int b = 0; b < VBLK_SECTOR; b++)
						if (buf[k * VBLK_SECTOR + b] != expect[b]) {
							puts_serial("verify bad sector ");
							put_dec(first[s] + k);
							putc_serial('\n');
							drain(batch);
							return -1;
						}
				}
				h = vblk_fnv(h, buf, (uint64_t)count[s] * VBLK_SECTOR);
			}
			busy[s] = 0;
			retired += count[s];
			ret++;
			for (; report <= retired; report += 512) {
				puts_serial(type == T_OUT ? "written " : "read ");
				put_dec(report);
				putc_serial('\n');
			}
		}
	}
	*hash = h;
	return 0;
}

/* ---- main --------------------------------------------------------------- */

static int value_is(const char *v, const char *word)
{
	while (*word && *v == *word) { v++; word++; }
	return !*word && (!*v || *v == ' ');
}

int main(void)
{
	uint64_t n = cmdline_u64("sectors", 4096), seed = cmdline_u64("seed", 1);
	uint64_t batch = cmdline_u64("batch", 16), per = cmdline_u64("per", 1);
	const char *m = cmdline_get("mode");
	int wr = 1, rd = 1;
	if (m && value_is(m, "write")) rd = 0;
	else if (m && value_is(m, "verify")) wr = 0;
	else if (m && !value_is(m, "both")) {
		puts_serial("vblk: mode must be write, verify or both\n");
		return 0;
	}
	if (per < 1 || per > PER_MAX) {
		puts_serial("vblk: per must be 1-64\n");
		return 0;
	}

	if (vio_find(&dev, VIRTIO_ID_BLK, "virtio-blk", 8) || init_device())
		return 0;
	uint64_t cap = capacity();
	puts_serial("virtio-blk at 0:");
	put_dec((uint64_t)dev.slot);
	puts_serial(".0 capacity ");
	put_dec(cap);
	putc_serial('\n');
	if (batch < 1) batch = 1;
	if (batch > rq.size / 3) batch = rq.size / 3;
	if (n > cap) {
		puts_serial("virtio error sectors ");
		put_dec(n);
		puts_serial(" beyond capacity ");
		put_dec(cap);
		putc_serial('\n');
		return 0;
	}

	volatile char *id = (volatile char *)ID_AT;
	for (int i = 0; i < 24; i++)
		id[i] = 0;
	if (single(T_GET_ID, ID_AT, 20))
		return 0;
	puts_serial("id ");
	for (int i = 0; i < 20 && id[i]; i++)
		putc_serial(id[i] >= 0x20 && id[i] < 0x7f ? id[i] : '?');
	putc_serial('\n');

	uint64_t h;
	if (wr) {
		if (run_io(T_OUT, n, (unsigned)batch, (unsigned)per, seed, &h))
			return 0;
		if (dev.features & F_BLK_FLUSH) {
			if (single(T_FLUSH, 0, 0))
				return 0;
			puts_serial("flush ok\n");
		}
		puts_serial("write done ");
		put_hex16(h);
		putc_serial('\n');
	}
	if (rd) {
		if (run_io(T_IN, n, (unsigned)batch, (unsigned)per, seed, &h))
			return 0;
		puts_serial("verify ok ");
		put_hex16(h);
		putc_serial('\n');
	}
	return 0;
}
