/* virtio 1.x modern PCI driver core: see virtio-pci.h. */
#include "guest.h"
#include "virtio-pci.h"

#define PCI_ADDR   0xcf8
#define PCI_DATA   0xcfc
#define CAP_MSIX   0x11
#define CAP_VENDOR 0x09
#define CFG_COMMON 1
#define CFG_NOTIFY 2
#define CFG_ISR    3
#define CFG_DEVICE 4
#define PM_TMR     0x408

static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

uint32_t pci_cfg32(unsigned slot, unsigned reg)
{
	outl(PCI_ADDR, 0x80000000u | slot << 11 | (reg & 0xfc));   /* bus 0, function 0 */
	return inl(PCI_DATA);
}

uint8_t pci_cfg8(unsigned slot, unsigned reg) { return (uint8_t)(pci_cfg32(slot, reg) >> (8 * (reg & 3))); }
uint16_t pci_cfg16(unsigned slot, unsigned reg) { return (uint16_t)(pci_cfg32(slot, reg) >> (8 * (reg & 2))); }

void pci_cfg_write32(unsigned slot, unsigned reg, uint32_t v)
{
	outl(PCI_ADDR, 0x80000000u | slot << 11 | (reg & 0xfc));
	outl(PCI_DATA, v);
}

int vio_fail(const char *what)
{
	puts_serial("virtio error ");
	puts_serial(what);
	putc_serial('\n');
	return -1;
}

int vio_fail_n(const char *what, uint64_t n)
{
	puts_serial("virtio error ");
	puts_serial(what);
	putc_serial(' ');
	put_dec(n);
	putc_serial('\n');
	return -1;
}

void put_hex_digits(uint64_t v, int digits)
{
	for (int s = 4 * (digits - 1); s >= 0; s -= 4)
		putc_serial("0123456789abcdef"[(v >> s) & 15]);
}

/* ---- discovery -------------------------------------------------------- */

/* The MMIO address of BAR `bar` (+ offset), or 0 with the error printed. */
static uint64_t bar_address(unsigned slot, unsigned bar, uint32_t offset, uint32_t length)
{
	if (bar > 5)
		return vio_fail_n("capability names bar", bar), 0;
	uint32_t lo = pci_cfg32(slot, 0x10 + 4 * bar);
	if (lo & 1)
		return vio_fail_n("I/O space bar", bar), 0;
	uint64_t a = lo & ~0xfULL;
	if ((lo & 6) == 4) {
		if (bar == 5)
			return vio_fail_n("64-bit bar without upper half", bar), 0;
		a |= (uint64_t)pci_cfg32(slot, 0x10 + 4 * (bar + 1)) << 32;
	}
	if (!(pci_cfg16(slot, 0x04) & 2))
		return vio_fail("memory decoding off"), 0;
	if (a == 0)
		return vio_fail_n("unassigned bar", bar), 0;
	if (a + offset + length > 0x100000000ULL || a < 0xc0000000ULL)
		return vio_fail_n("bar outside the 3-4 GiB hole", bar), 0;
	return a + offset;
}

int vio_find(struct vdev *d, uint16_t device_id, const char *name, int need_devcfg)
{
	*d = (struct vdev){ .slot = -1, .device_id = device_id };
	for (unsigned s = 0; s < 32; s++) {
		uint32_t id = pci_cfg32(s, 0);
		if ((id & 0xffff) == VIRTIO_VENDOR && id >> 16 == device_id) {
			d->slot = (int)s;
			break;
		}
	}
	if (d->slot < 0) {
		puts_serial("virtio error no ");
		puts_serial(name);
		puts_serial(" (1af4:");
		put_hex_digits(device_id, 4);
		puts_serial(") on bus 0\n");
		return -1;
	}
	unsigned slot = (unsigned)d->slot;
	if (!(pci_cfg16(slot, 0x06) & 0x10))
		return vio_fail("no capability list");
	unsigned at = pci_cfg8(slot, 0x34) & 0xfc;
	for (int n = 0; at && n < 48; n++, at = pci_cfg8(slot, at + 1) & 0xfc) {
		if (at < 0x40)
			return vio_fail_n("capability pointer", at);
		uint8_t cap = pci_cfg8(slot, at);
		if (cap == CAP_MSIX && !d->msix_cap) {
			d->msix_cap = at;
			d->msix_vectors = (uint16_t)((pci_cfg16(slot, at + 2) & 0x7ff) + 1);
			continue;
		}
		if (cap != CAP_VENDOR)
			continue;
		uint8_t type = pci_cfg8(slot, at + 3), bar = pci_cfg8(slot, at + 4);
		uint32_t offset = pci_cfg32(slot, at + 8), length = pci_cfg32(slot, at + 12);
		uint64_t *where = type == CFG_COMMON ? &d->common : type == CFG_NOTIFY ? &d->notify_base :
			type == CFG_ISR ? &d->isr : type == CFG_DEVICE ? &d->devcfg : 0;
		if (!where || *where)   /* other types (PCI_CFG); only the first of each */
			continue;
		if (type == CFG_COMMON && length < 0x38)
			return vio_fail_n("common config length", length);
		if (type == CFG_DEVICE) {
			if (need_devcfg && length < (uint32_t)need_devcfg)
				return vio_fail_n("device config length", length);
			d->devcfg_len = length;
		}
		if (type == CFG_NOTIFY) {
			if (pci_cfg8(slot, at + 2) < 20)
				return vio_fail("notify capability too short");
			d->notify_mult = pci_cfg32(slot, at + 16);
		}
		if (!(*where = bar_address(slot, bar, offset, length)))
			return -1;
	}
	if (!d->common) return vio_fail("no common config capability");
	if (!d->notify_base) return vio_fail("no notify capability");
	if (!d->isr) return vio_fail("no ISR capability");
	if (need_devcfg && !d->devcfg) return vio_fail("no device config capability");
	return 0;
}

/* ---- initialization (virtio 1.2, 3.1.1) ------------------------------- */

int vio_negotiate(struct vdev *d, uint64_t wanted)
{
	uint64_t c = d->common;
	mw8(c + C_STATUS, 0);
	if (mr8(c + C_STATUS) != 0)
		return vio_fail("reset did not clear the status");
	mw8(c + C_STATUS, S_ACKNOWLEDGE);
	mw8(c + C_STATUS, S_ACKNOWLEDGE | S_DRIVER);

	mw32(c + C_DFSELECT, 0);
	uint64_t offered = mr32(c + C_DF);
	mw32(c + C_DFSELECT, 1);
	offered |= (uint64_t)mr32(c + C_DF) << 32;
	if (!(offered & F_VERSION_1))
		return vio_fail("device does not offer VIRTIO_F_VERSION_1");
	d->features = F_VERSION_1 | (offered & wanted);
	mw32(c + C_GFSELECT, 0);
	mw32(c + C_GF, (uint32_t)d->features);
	mw32(c + C_GFSELECT, 1);
	mw32(c + C_GF, (uint32_t)(d->features >> 32));
	mw8(c + C_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
	if (!(mr8(c + C_STATUS) & S_FEATURES_OK))
		return vio_fail("FEATURES_OK did not stick");
	return 0;
}

int vio_driver_ok(struct vdev *d)
{
	mw8(d->common + C_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	uint8_t st = mr8(d->common + C_STATUS);
	if (st & (S_NEEDS_RESET | S_FAILED) || !(st & S_DRIVER_OK))
		return vio_fail_n("status after DRIVER_OK", st);
	return 0;
}

int vq_setup(struct vdev *d, struct vq *q, uint16_t index, uint16_t qmax, uint64_t base, uint16_t msix, int no_intr)
{
	uint64_t c = d->common;
	if (mr16(c + C_NUM_QUEUES) <= index)
		return index == 0 ? vio_fail("no queues") : vio_fail_n("no queue", index);
	mw16(c + C_Q_SELECT, index);
	uint16_t max = mr16(c + C_Q_SIZE);
	if (max == 0) {
		puts_serial("virtio error queue ");
		put_dec(index);
		puts_serial(" is not available\n");
		return -1;
	}
	if (qmax > VQ_MAX)
		qmax = VQ_MAX;
	uint16_t size = qmax;
	while (size & (size - 1))
		size &= (uint16_t)(size - 1);   /* a power of two */
	while (size > max)
		size >>= 1;                    /* no larger than the device's */
	mw16(c + C_Q_SIZE, size);
	if (mr16(c + C_Q_SIZE) != size)
		return vio_fail_n("queue size refused", size);

	for (uint64_t a = base; a < base + VQ_BYTES; a += 8)
		*(volatile uint64_t *)a = 0;
	q->index = index;
	q->size = size;
	q->avail_idx = q->last_used = 0;
	q->desc = (volatile void *)base;
	q->avail = (volatile void *)(base + 0x1000);
	q->used = (volatile void *)(base + 0x2000);
	q->avail->flags = no_intr ? AVAIL_NO_INTR : 0;
	uint64_t dsc = base, drv = base + 0x1000, dev = base + 0x2000;
	mw32(c + C_Q_DESC, (uint32_t)dsc);
	mw32(c + C_Q_DESC + 4, (uint32_t)(dsc >> 32));
	mw32(c + C_Q_DRIVER, (uint32_t)drv);
	mw32(c + C_Q_DRIVER + 4, (uint32_t)(drv >> 32));
	mw32(c + C_Q_DEVICE, (uint32_t)dev);
	mw32(c + C_Q_DEVICE + 4, (uint32_t)(dev >> 32));
	mw16(c + C_Q_MSIX, msix);
	if (mr16(c + C_Q_MSIX) != msix)
		return msix == NO_VECTOR ? vio_fail("queue_msix_vector is not NO_VECTOR") : vio_fail_n("queue_msix_vector refused", msix);
	q->doorbell = d->notify_base + (uint64_t)mr16(c + C_Q_NOTIFY_OFF) * d->notify_mult;
	mw16(c + C_Q_ENABLE, 1);
	if (mr16(c + C_Q_ENABLE) != 1)
		return vio_fail("queue_enable did not stick");
	return 0;
}

void vq_kick(struct vq *q)
{
	barrier();                 /* ring entries and descriptors before the index */
	q->avail->idx = q->avail_idx;
	mb();                      /* the index before reading used->flags */
	if (!(q->used->flags & USED_NO_NOTIFY))
		mw16(q->doorbell, q->index);
}

int vq_pop(struct vq *q, uint32_t *id, uint32_t *len)
{
	if (q->used->idx == q->last_used)
		return 0;
	barrier();
	volatile struct vq_used_elem *e = &q->used->ring[q->last_used % q->size];
	*id = e->id;
	*len = e->len;
	q->last_used++;
	return 1;
}

/* ---- MSI-X ------------------------------------------------------------ */

int vio_msix_enable(struct vdev *d)
{
	if (!d->msix_cap)
		return vio_fail("no MSI-X capability");
	unsigned slot = (unsigned)d->slot;
	uint32_t where = pci_cfg32(slot, d->msix_cap + 4);
	uint32_t bytes = (uint32_t)d->msix_vectors * 16;
	if (!(d->msix_table = bar_address(slot, where & 7, where & ~7u, bytes)))
		return -1;
	/* message control is the upper half of the capability's first dword:
	 * enable (bit 15) on, function mask (bit 14) off. */
	uint32_t v = pci_cfg32(slot, d->msix_cap);
	pci_cfg_write32(slot, d->msix_cap, (v | 0x80000000u) & ~0x40000000u);
	if (!(pci_cfg16(slot, d->msix_cap + 2) & 0x8000))
		return vio_fail("MSI-X enable did not stick");
	return 0;
}

int vio_msix_route(struct vdev *d, uint16_t entry, uint8_t vector, uint8_t apic_id)
{
	if (!d->msix_table || entry >= d->msix_vectors)
		return vio_fail_n("no MSI-X table entry", entry);
	uint64_t e = d->msix_table + 16ULL * entry;
	mw32(e + 0, 0xfee00000u | (uint32_t)apic_id << 12);
	mw32(e + 4, 0);
	mw32(e + 8, vector);   /* fixed delivery, edge */
	mw32(e + 12, 0);       /* unmasked */
	if (mr32(e + 8) != vector || (mr32(e + 12) & 1))
		return vio_fail_n("MSI-X table entry did not stick", entry);
	return 0;
}

int vio_config_vector(struct vdev *d, uint16_t entry)
{
	mw16(d->common + C_MSIX_CONFIG, entry);
	if (mr16(d->common + C_MSIX_CONFIG) != entry)
		return vio_fail_n("config_msix_vector refused", entry);
	return 0;
}

/* ---- time ------------------------------------------------------------- */

static uint32_t pm_last;
static uint64_t pm_ticks;
static int pm_started;

uint64_t pm_ms(void)
{
	uint32_t now = inl(PM_TMR) & 0xffffff;
	if (pm_started)
		pm_ticks += (now - pm_last) & 0xffffff;
	pm_started = 1;
	pm_last = now;
	return pm_ticks * 1000 / 3579545;
}
