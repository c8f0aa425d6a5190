/* A virtio 1.x modern PCI driver core for the test guests, all at CPL3:
 * config mechanism #1 (0xCF8/0xCFC) to find a function and walk its
 * capabilities, MMIO to the BARs as the VMM assigned them (3-4 GiB is
 * mapped uncached and user-accessible), the 3.1.1 initialization sequence,
 * split virtqueues in guest RAM, and MSI-X (table entries pointing at the
 * LAPIC, see lapic.h).
 *
 * Errors print one line `virtio error <what>` on COM1 and return -1 (or 0
 * for functions returning an address); callers then power off. */
#ifndef GUEST_VIRTIO_PCI_H
#define GUEST_VIRTIO_PCI_H
#include <stdint.h>

/* ---- numbers (virtio 1.2) --------------------------------------------- */

#define VIRTIO_VENDOR      0x1af4
#define VIRTIO_ID_NET      0x1041
#define VIRTIO_ID_BLK      0x1042
#define VIRTIO_ID_CONSOLE  0x1043
#define VIRTIO_ID_RNG      0x1044

#define S_ACKNOWLEDGE      0x01
#define S_DRIVER           0x02
#define S_DRIVER_OK        0x04
#define S_FEATURES_OK      0x08
#define S_NEEDS_RESET      0x40
#define S_FAILED           0x80

#define F_VERSION_1        (1ULL << 32)

/* struct virtio_pci_common_cfg offsets */
#define C_DFSELECT         0x00
#define C_DF               0x04
#define C_GFSELECT         0x08
#define C_GF               0x0c
#define C_MSIX_CONFIG      0x10
#define C_NUM_QUEUES       0x12
#define C_STATUS           0x14
#define C_GENERATION       0x15
#define C_Q_SELECT         0x16
#define C_Q_SIZE           0x18
#define C_Q_MSIX           0x1a
#define C_Q_ENABLE         0x1c
#define C_Q_NOTIFY_OFF     0x1e
#define C_Q_DESC           0x20
#define C_Q_DRIVER         0x28
#define C_Q_DEVICE         0x30

#define NO_VECTOR          0xffff
#define DESC_NEXT          1
#define DESC_WRITE         2
#define AVAIL_NO_INTR      1
#define USED_NO_NOTIFY     1

/* ---- barriers and MMIO ------------------------------------------------ */

#define barrier() __asm__ volatile("" ::: "memory")
#define mb() __asm__ volatile("lock; addl $0, (%%rsp)" ::: "memory", "cc")

static inline uint8_t mr8(uint64_t a) { return *(volatile uint8_t *)a; }
static inline uint16_t mr16(uint64_t a) { return *(volatile uint16_t *)a; }
static inline uint32_t mr32(uint64_t a) { return *(volatile uint32_t *)a; }
static inline void mw8(uint64_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline void mw16(uint64_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static inline void mw32(uint64_t a, uint32_t v) { *(volatile uint32_t *)a = v; }

/* ---- PCI config space, bus 0 function 0 ------------------------------- */

uint32_t pci_cfg32(unsigned slot, unsigned reg);
uint16_t pci_cfg16(unsigned slot, unsigned reg);
uint8_t pci_cfg8(unsigned slot, unsigned reg);
void pci_cfg_write32(unsigned slot, unsigned reg, uint32_t v);

/* ---- error lines -------------------------------------------------------- */

int vio_fail(const char *what);                   /* virtio error <what> */
int vio_fail_n(const char *what, uint64_t n);     /* virtio error <what> <n> */
void put_hex_digits(uint64_t v, int digits);      /* lower-case, zero-padded */

/* ---- a device ----------------------------------------------------------- */

struct vdev {
	int slot;                       /* -1 until found */
	uint16_t device_id;
	uint64_t common, notify_base, isr, devcfg;   /* MMIO addresses (0: absent) */
	uint32_t notify_mult, devcfg_len;
	uint64_t features;              /* negotiated */
	unsigned msix_cap;              /* config offset of the MSI-X capability, 0: none */
	uint16_t msix_vectors;          /* its table size */
	uint64_t msix_table;            /* MMIO address, once vio_msix_enable ran */
};

/* Finds 1af4:device_id on bus 0 and its common/notify/ISR/device
 * capabilities (device config only required when need_devcfg). `name`
 * is used in `no <name> (1af4:<id>) on bus 0`. */
int vio_find(struct vdev *d, uint16_t device_id, const char *name, int need_devcfg);

/* Reset, ACKNOWLEDGE, DRIVER, features = VERSION_1 | (offered & wanted),
 * FEATURES_OK (checked). d->features holds what was negotiated. */
int vio_negotiate(struct vdev *d, uint64_t wanted);

/* Sets DRIVER_OK and checks the status. */
int vio_driver_ok(struct vdev *d);

static inline uint8_t vio_status(const struct vdev *d) { return mr8(d->common + C_STATUS); }
static inline uint8_t vio_generation(const struct vdev *d) { return mr8(d->common + C_GENERATION); }
static inline uint8_t vio_cfg8(const struct vdev *d, unsigned off) { return mr8(d->devcfg + off); }
static inline uint16_t vio_cfg16(const struct vdev *d, unsigned off) { return mr16(d->devcfg + off); }
static inline uint32_t vio_cfg32(const struct vdev *d, unsigned off) { return mr32(d->devcfg + off); }

/* ---- MSI-X -------------------------------------------------------------- */

/* Locates the table (BAR and offset from the capability) and sets the
 * MSI-X enable bit (function mask clear). Every entry stays masked until
 * vio_msix_route. */
int vio_msix_enable(struct vdev *d);
/* Table entry `entry` -> LAPIC `apic_id`, fixed delivery of `vector`, unmasked. */
int vio_msix_route(struct vdev *d, uint16_t entry, uint8_t vector, uint8_t apic_id);
/* config_msix_vector = entry (checked). */
int vio_config_vector(struct vdev *d, uint16_t entry);

/* ---- split virtqueues --------------------------------------------------- */

#define VQ_MAX   256
#define VQ_BYTES 0x3000   /* RAM a queue takes at its base: desc, avail, used pages */

struct vq_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct vq_avail { uint16_t flags, idx, ring[VQ_MAX]; };
struct vq_used_elem { uint32_t id, len; };
struct vq_used { uint16_t flags, idx; struct vq_used_elem ring[VQ_MAX]; };

struct vq {
	uint16_t index, size, avail_idx, last_used;
	uint64_t doorbell;
	volatile struct vq_desc *desc;
	volatile struct vq_avail *avail;
	volatile struct vq_used *used;
};

/* Sets up queue `index` with its rings at `base` (page aligned, VQ_BYTES,
 * zeroed here): size = the largest power of two <= min(qmax, device max),
 * queue_msix_vector = msix (NO_VECTOR to poll), avail flags NO_INTERRUPT
 * when no_intr, then queue_enable. */
int vq_setup(struct vdev *d, struct vq *q, uint16_t index, uint16_t qmax, uint64_t base, uint16_t msix, int no_intr);

/* Descriptor `i` := one buffer; `next` chains to descriptor next (with DESC_NEXT in flags). */
static inline void vq_set_desc(struct vq *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	q->desc[i].addr = addr;
	q->desc[i].len = len;
	q->desc[i].flags = flags;
	q->desc[i].next = next;
}

/* Puts the chain starting at descriptor `head` on the available ring (not yet published). */
static inline void vq_add(struct vq *q, uint16_t head)
{
	q->avail->ring[q->avail_idx % q->size] = head;
	q->avail_idx++;
}

/* Publishes the added chains and notifies the device unless it asked not to be. */
void vq_kick(struct vq *q);

/* Used elements not yet taken. */
static inline uint16_t vq_used_pending(const struct vq *q) { return (uint16_t)(q->used->idx - q->last_used); }

/* Takes the next used element: 1 and its id and length, or 0 when none. */
int vq_pop(struct vq *q, uint32_t *id, uint32_t *len);

/* ---- time --------------------------------------------------------------- */

/* Milliseconds from the ACPI PM timer (port 0x408, 3.579545 MHz, 24 bits;
 * one PIO read, ~25 us at CPL3). Call at least every 4 s so wraps are seen. */
uint64_t pm_ms(void);
#endif
