/* vblk: a virtio-blk (virtio 1.x, modern PCI) driver in miniature, all at
 * CPL3: config mechanism #1 (0xCF8/0xCFC, dword accesses) to find the
 * device and its capabilities, MMIO to BAR 4 (the page tables map 3-4 GiB
 * uncached and user-accessible), one split virtqueue polled in RAM (no
 * interrupts: queue_msix_vector = NO_VECTOR, avail flags NO_INTERRUPT).
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

/* ---- PCI config mechanism #1 ---------------------------------------- */

#define PCI_ADDR 0xcf8
#define PCI_DATA 0xcfc

static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static uint32_t cfg32(unsigned slot, unsigned reg)
{
	outl(PCI_ADDR, 0x80000000u | slot << 11 | (reg & 0xfc));   /* bus 0, function 0 */
	return inl(PCI_DATA);
}

static uint8_t cfg8(unsigned slot, unsigned reg) { return (uint8_t)(cfg32(slot, reg) >> (8 * (reg & 3))); }
static uint16_t cfg16(unsigned slot, unsigned reg) { return (uint16_t)(cfg32(slot, reg) >> (8 * (reg & 2))); }

/* ---- virtio numbers (virtio 1.2) ------------------------------------- */

#define VIRTIO_VENDOR    0x1af4
#define VIRTIO_BLK_ID    0x1042
#define CAP_VENDOR       0x09
#define CFG_COMMON       1
#define CFG_NOTIFY       2
#define CFG_ISR          3
#define CFG_DEVICE       4

#define S_ACKNOWLEDGE    0x01
#define S_DRIVER         0x02
#define S_DRIVER_OK      0x04
#define S_FEATURES_OK    0x08
#define S_NEEDS_RESET    0x40
#define S_FAILED         0x80

#define F_BLK_FLUSH      (1ULL << 9)
#define F_VERSION_1      (1ULL << 32)

/* struct virtio_pci_common_cfg offsets */
#define C_DFSELECT       0x00
#define C_DF             0x04
#define C_GFSELECT       0x08
#define C_GF             0x0c
#define C_NUM_QUEUES     0x12
#define C_STATUS         0x14
#define C_GENERATION     0x15
#define C_Q_SELECT       0x16
#define C_Q_SIZE         0x18
#define C_Q_MSIX         0x1a
#define C_Q_ENABLE       0x1c
#define C_Q_NOTIFY_OFF   0x1e
#define C_Q_DESC         0x20
#define C_Q_DRIVER       0x28
#define C_Q_DEVICE       0x30

#define NO_VECTOR        0xffff
#define DESC_NEXT        1
#define DESC_WRITE       2
#define AVAIL_NO_INTR    1
#define USED_NO_NOTIFY   1

#define T_IN             0
#define T_OUT            1
#define T_FLUSH          4
#define T_GET_ID         8

/* ---- guest RAM used by the driver (at 16 MiB, page aligned) ---------- */

#define QMAX       64
#define QBASE      0x1000000ULL
#define DESC_AT    (QBASE + 0x0000)   /* QMAX * 16 */
#define AVAIL_AT   (QBASE + 0x1000)   /* 6 + 2 * QMAX */
#define USED_AT    (QBASE + 0x2000)   /* 6 + 8 * QMAX */
#define HDR_AT     (QBASE + 0x3000)   /* 16 bytes per slot */
#define STATUS_AT  (QBASE + 0x4000)   /* 1 byte per slot */
#define ID_AT      (QBASE + 0x5000)   /* GET_ID's 20 bytes */
#define DATA_AT    (QBASE + 0x10000)  /* PER_MAX * 512 bytes per slot */
#define PER_MAX    64
#define SLOTS_MAX  (QMAX / 3)

struct vq_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct vq_avail { uint16_t flags, idx, ring[QMAX]; };
struct vq_used_elem { uint32_t id, len; };
struct vq_used { uint16_t flags, idx; struct vq_used_elem ring[QMAX]; };
struct blk_hdr { uint32_t type, reserved; uint64_t sector; };

static volatile struct vq_desc *const desc = (volatile void *)DESC_AT;
static volatile struct vq_avail *const avail = (volatile void *)AVAIL_AT;
static volatile struct vq_used *const used = (volatile void *)USED_AT;
static volatile struct blk_hdr *const hdrs = (volatile void *)HDR_AT;
static volatile uint8_t *const statuses = (volatile void *)STATUS_AT;

#define barrier() __asm__ volatile("" ::: "memory")
#define mb() __asm__ volatile("lock; addl $0, (%%rsp)" ::: "memory", "cc")

/* ---- device state ----------------------------------------------------- */

static uint64_t common, notify_base, isr, devcfg;   /* MMIO addresses */
static uint32_t notify_mult;
static uint16_t qsize, notify_off, avail_idx, last_used;
static uint64_t features;

static inline uint8_t mr8(uint64_t a) { return *(volatile uint8_t *)a; }
static inline uint16_t mr16(uint64_t a) { return *(volatile uint16_t *)a; }
static inline uint32_t mr32(uint64_t a) { return *(volatile uint32_t *)a; }
static inline void mw8(uint64_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline void mw16(uint64_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static inline void mw32(uint64_t a, uint32_t v) { *(volatile uint32_t *)a = v; }

static int fail(const char *what)
{
	puts_serial("virtio error ");
	puts_serial(what);
	putc_serial('\n');
	return -1;
}

/* "virtio error <what> <n>" */
static int fail_n(const char *what, uint64_t n)
{
	puts_serial("virtio error ");
	puts_serial(what);
	putc_serial(' ');
	put_dec(n);
	putc_serial('\n');
	return -1;
}

/* ---- discovery -------------------------------------------------------- */

static int found_slot = -1;

/* The MMIO address of BAR `bar` (+ offset), or 0 with the error printed. */
static uint64_t bar_address(unsigned slot, unsigned bar, uint32_t offset, uint32_t length)
{
	if (bar > 5)
		return fail_n("capability names bar", bar), 0;
	uint32_t lo = cfg32(slot, 0x10 + 4 * bar);
	if (lo & 1)
		return fail_n("I/O space bar", bar), 0;
	uint64_t a = lo & ~0xfULL;
	if ((lo & 6) == 4) {
		if (bar == 5)
			return fail_n("64-bit bar without upper half", bar), 0;
		a |= (uint64_t)cfg32(slot, 0x10 + 4 * (bar + 1)) << 32;
	}
	if (!(cfg16(slot, 0x04) & 2))
		return fail("memory decoding off"), 0;
	if (a == 0)
		return fail_n("unassigned bar", bar), 0;
	if (a + offset + length > 0x100000000ULL || a < 0xc0000000ULL)
		return fail_n("bar outside the 3-4 GiB hole", bar), 0;
	return a + offset;
}

static int find_device(void)
{
	for (unsigned s = 0; s < 32; s++) {
		uint32_t id = cfg32(s, 0);
		if ((id & 0xffff) == VIRTIO_VENDOR && id >> 16 == VIRTIO_BLK_ID) {
			found_slot = (int)s;
			break;
		}
	}
	if (found_slot < 0)
		return fail("no virtio-blk (1af4:1042) on bus 0");
	unsigned slot = (unsigned)found_slot;
	if (!(cfg16(slot, 0x06) & 0x10))
		return fail("no capability list");
	unsigned at = cfg8(slot, 0x34) & 0xfc;
	for (int n = 0; at && n < 48; n++, at = cfg8(slot, at + 1) & 0xfc) {
		if (at < 0x40)
			return fail_n("capability pointer", at);
		if (cfg8(slot, at) != CAP_VENDOR)
			continue;
		uint8_t type = cfg8(slot, at + 3), bar = cfg8(slot, at + 4);
		uint32_t offset = cfg32(slot, at + 8), length = cfg32(slot, at + 12);
		uint64_t *where = type == CFG_COMMON ? &common : type == CFG_NOTIFY ? &notify_base :
			type == CFG_ISR ? &isr : type == CFG_DEVICE ? &devcfg : 0;
		if (!where || *where)   /* other types (PCI_CFG); only the first of each */
			continue;
		if (type == CFG_COMMON && length < 0x38)
			return fail_n("common config length", length);
		if (type == CFG_DEVICE && length < 8)
			return fail_n("device config length", length);
		if (type == CFG_NOTIFY) {
			if (cfg8(slot, at + 2) < 20)
				return fail("notify capability too short");
			notify_mult = cfg32(slot, at + 16);
		}
		if (!(*where = bar_address(slot, bar, offset, length)))
			return -1;
	}
	if (!common) return fail("no common config capability");
	if (!notify_base) return fail("no notify capability");
	if (!isr) return fail("no ISR capability");
	if (!devcfg) return fail("no device config capability");
	return 0;
}

/* ---- initialization (virtio 1.2, 3.1.1) ------------------------------- */

static uint64_t capacity(void)
{
	uint8_t g;
	uint64_t c;
	do {
		g = mr8(common + C_GENERATION);
		c = mr32(devcfg) | (uint64_t)mr32(devcfg + 4) << 32;
	} while (g != mr8(common + C_GENERATION));
	return c;
}

static int init_device(void)
{
	mw8(common + C_STATUS, 0);
	if (mr8(common + C_STATUS) != 0)
		return fail("reset did not clear the status");
	mw8(common + C_STATUS, S_ACKNOWLEDGE);
	mw8(common + C_STATUS, S_ACKNOWLEDGE | S_DRIVER);

	mw32(common + C_DFSELECT, 0);
	uint64_t offered = mr32(common + C_DF);
	mw32(common + C_DFSELECT, 1);
	offered |= (uint64_t)mr32(common + C_DF) << 32;
	if (!(offered & F_VERSION_1))
		return fail("device does not offer VIRTIO_F_VERSION_1");
	features = F_VERSION_1 | (offered & F_BLK_FLUSH);
	mw32(common + C_GFSELECT, 0);
	mw32(common + C_GF, (uint32_t)features);
	mw32(common + C_GFSELECT, 1);
	mw32(common + C_GF, (uint32_t)(features >> 32));
	mw8(common + C_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
	if (!(mr8(common + C_STATUS) & S_FEATURES_OK))
		return fail("FEATURES_OK did not stick");

	if (mr16(common + C_NUM_QUEUES) < 1)
		return fail("no queues");
	mw16(common + C_Q_SELECT, 0);
	uint16_t max = mr16(common + C_Q_SIZE);
	if (max == 0)
		return fail("queue 0 is not available");
	qsize = QMAX;
	while (qsize > max)
		qsize >>= 1;   /* a power of two no larger than the device's */
	mw16(common + C_Q_SIZE, qsize);
	if (mr16(common + C_Q_SIZE) != qsize)
		return fail_n("queue size refused", qsize);

	for (uint64_t a = QBASE; a < DATA_AT; a += 8)
		*(volatile uint64_t *)a = 0;
	avail->flags = AVAIL_NO_INTR;   /* we poll */
	avail_idx = last_used = 0;
	mw32(common + C_Q_DESC, (uint32_t)DESC_AT);
	mw32(common + C_Q_DESC + 4, (uint32_t)(DESC_AT >> 32));
	mw32(common + C_Q_DRIVER, (uint32_t)AVAIL_AT);
	mw32(common + C_Q_DRIVER + 4, (uint32_t)(AVAIL_AT >> 32));
	mw32(common + C_Q_DEVICE, (uint32_t)USED_AT);
	mw32(common + C_Q_DEVICE + 4, (uint32_t)(USED_AT >> 32));
	mw16(common + C_Q_MSIX, NO_VECTOR);
	if (mr16(common + C_Q_MSIX) != NO_VECTOR)
		return fail("queue_msix_vector is not NO_VECTOR");
	notify_off = mr16(common + C_Q_NOTIFY_OFF);
	mw16(common + C_Q_ENABLE, 1);
	if (mr16(common + C_Q_ENABLE) != 1)
		return fail("queue_enable did not stick");

	mw8(common + C_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	uint8_t st = mr8(common + C_STATUS);
	if (st & (S_NEEDS_RESET | S_FAILED) || !(st & S_DRIVER_OK))
		return fail_n("status after DRIVER_OK", st);
	return 0;
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
	desc[d].addr = HDR_AT + 16 * s;
	desc[d].len = 16;
	desc[d].flags = DESC_NEXT;
	desc[d].next = (uint16_t)(bytes ? d + 1 : d + 2);
	if (bytes) {
		desc[d + 1].addr = data;
		desc[d + 1].len = bytes;
		desc[d + 1].flags = DESC_NEXT | (type == T_OUT ? 0 : DESC_WRITE);
		desc[d + 1].next = (uint16_t)(d + 2);
	}
	desc[d + 2].addr = STATUS_AT + s;
	desc[d + 2].len = 1;
	desc[d + 2].flags = DESC_WRITE;
	desc[d + 2].next = 0;
	avail->ring[avail_idx % qsize] = (uint16_t)d;
	avail_idx++;
}

static void kick(void)
{
	barrier();                 /* ring entries and descriptors before the index */
	avail->idx = avail_idx;
	mb();                      /* the index before reading used->flags */
	if (!(used->flags & USED_NO_NOTIFY))
		mw16(notify_base + (uint64_t)notify_off * notify_mult, 0);
}

/* Per slot: in flight, completed (not yet retired), used length. */
static uint8_t busy[SLOTS_MAX], done[SLOTS_MAX];
static uint32_t used_len[SLOTS_MAX];

/* Waits for at least one used element and marks its slots done. */
static int reap(uint32_t type, uint64_t sector)
{
	for (uint32_t checks = 0; used->idx == last_used;) {
		for (uint32_t i = 0; i < SPINS && used->idx == last_used; i++)
			__asm__ volatile("pause");
		if (used->idx != last_used)
			break;
		uint8_t st = mr8(common + C_STATUS);
		if (st & (S_NEEDS_RESET | S_FAILED))
			return fail_n("device needs reset, status", st);
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
	uint16_t now = used->idx;
	if ((uint16_t)(now - last_used) > qsize)
		return fail_n("used idx ran ahead", now);
	for (; last_used != now; last_used++) {
		uint32_t id = used->ring[last_used % qsize].id, s = id / 3;
		if (id % 3 || s >= SLOTS_MAX || !busy[s] || done[s])
			return fail_n("used ring returned id", id);
		done[s] = 1;
		used_len[s] = used->ring[last_used % qsize].len;
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

	if (find_device() || init_device())
		return 0;
	uint64_t cap = capacity();
	puts_serial("virtio-blk at 0:");
	put_dec((uint64_t)found_slot);
	puts_serial(".0 capacity ");
	put_dec(cap);
	putc_serial('\n');
	if (batch < 1) batch = 1;
	if (batch > qsize / 3) batch = qsize / 3;
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
		if (features & F_BLK_FLUSH) {
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
