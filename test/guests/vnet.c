/* vnet: a virtio-net driver (virtio 1.x modern PCI, 1af4:1041) on the driver
 * core (common/virtio-pci.c): VIRTIO_NET_F_MAC (and F_STATUS), one queue
 * pair, no offloads. receiveq 0 has 32 buffers of 2 KiB posted and raises
 * MSI-X vector 0x31 (table entry 1; config changes: entry 0 -> 0x30), the
 * CPL0 handler counts them (common/lapic.c); transmitq 1 is polled.
 * Frames: Ethernet type 0x88B5, 60 bytes: dst, src, type, "bhvt", kind
 * (0 request, 1 echo), pad, seq (u32 LE), zeros.
 *
 * cmdline: role=ping|pong [ping]  count=N [20]
 *   ping: peer=xx:xx:xx:xx:xx:xx [ff:ff:ff:ff:ff:ff]  gap=MS [0; after each
 *         echo]  timeout=MS [200]  tries=N [100; sends of one seq before
 *         giving up]. Sends seq 1..N one at a time; each is re-sent after
 *         `timeout` ms without its echo (a peer suspended or not up yet).
 *   pong: echoes every request (duplicates too) to its source MAC, from its
 *         own; done once seqs 1..N were all seen and then nothing came for
 *         linger=MS [2000] (count=0: never done).
 * exits=0 [1]: poll the rings without VM exits (see wait_rx).
 * Times are ms of the ACPI PM timer.
 *
 * Output, exactly (then power off):
 *   virtio-net at 0:<slot>.0 mac <mac>
 *   ping: ping <seq> ok            when seq's echo arrived
 *         net timeout seq <seq>    each time `timeout` passed without it
 *         net gave up seq <seq>    after `tries` sends (then the done line)
 *   pong: pong <seq>               for each request echoed
 *   net done sent <frames sent> received <frames of the protocol received> irqs <receiveq interrupts>
 * Device problems: virtio error ..., and power off. */
#include "guest.h"
#include "lapic.h"
#include "virtio-pci.h"

#define F_NET_MAC     (1ULL << 5)
#define F_NET_STATUS  (1ULL << 16)
#define NET_HDR       12   /* virtio_net_hdr with num_buffers (VERSION_1) */
#define ETHERTYPE     0x88b5
#define FRAME_LEN     60

#define QBASE     0x1000000ULL
#define RXQ_AT    QBASE
#define TXQ_AT    (QBASE + VQ_BYTES)
#define RXBUF_AT  (QBASE + 0x10000)
#define TXBUF_AT  (QBASE + 0x30000)
#define RXN       32
#define BUFLEN    2048
#define SPINS     1024
#define CONFIG_VEC (LAPIC_VECTOR_BASE + 0)
#define RX_VEC     (LAPIC_VECTOR_BASE + 1)
#define SEQ_MAX   4096

static struct vdev dev;
static struct vq rxq, txq;
static uint8_t mac[6], peer[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static uint64_t sent, received, exits;

static void put_mac(const uint8_t *m)
{
	for (int i = 0; i < 6; i++) {
		if (i)
			putc_serial(':');
		put_hex_digits(m[i], 2);
	}
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int parse_mac(const char *s, uint8_t *out)
{
	for (int i = 0; i < 6; i++, s += 3) {
		int h = hexval(s[0]), l = hexval(s[1]);
		if (h < 0 || l < 0 || (i < 5 && s[2] != ':') || (i == 5 && s[2] && s[2] != ' '))
			return -1;
		out[i] = (uint8_t)(h << 4 | l);
	}
	return 0;
}

static int is_word(const char *v, const char *w)
{
	while (*w && *v == *w) { v++; w++; }
	return !*w && (!*v || *v == ' ');
}

/* ---- queues -------------------------------------------------------------- */

static void post_rx(uint16_t i)
{
	vq_set_desc(&rxq, i, RXBUF_AT + (uint64_t)i * BUFLEN, BUFLEN, DESC_WRITE, 0);
	vq_add(&rxq, i);
}

static int check_status(void)
{
	uint8_t st = vio_status(&dev);
	return st & (S_NEEDS_RESET | S_FAILED) ? vio_fail_n("device needs reset, status", st) : 0;
}

/* Sends one protocol frame and waits until the device took it. */
static int send_frame(const uint8_t *dst, uint8_t kind, uint32_t seq)
{
	volatile uint8_t *b = (volatile uint8_t *)TXBUF_AT;
	for (int i = 0; i < NET_HDR + FRAME_LEN; i++)
		b[i] = 0;
	volatile uint8_t *f = b + NET_HDR;
	for (int i = 0; i < 6; i++) {
		f[i] = dst[i];
		f[6 + i] = mac[i];
	}
	f[12] = ETHERTYPE >> 8;
	f[13] = ETHERTYPE & 0xff;
	f[14] = 'b'; f[15] = 'h'; f[16] = 'v'; f[17] = 't';
	f[18] = kind;
	for (int i = 0; i < 4; i++)
		f[20 + i] = (uint8_t)(seq >> (8 * i));
	vq_set_desc(&txq, 0, TXBUF_AT, NET_HDR + FRAME_LEN, 0, 0);
	vq_add(&txq, 0);
	vq_kick(&txq);
	for (uint32_t n = 0; !vq_used_pending(&txq); n++) {
		__asm__ volatile("pause");
		if (n % 65536 == 65535 && check_status())
			return -1;
	}
	uint32_t id, len;
	vq_pop(&txq, &id, &len);
	if (id != 0)
		return vio_fail_n("transmitq used ring returned id", id);
	sent++;
	return 0;
}

/* Waits for a used receive buffer until PM-timer ms `deadline` (0: none):
 * 1 when one is there, 0 at the deadline, -1 when the device broke. Every
 * round (~40 us of `pause`) reads the PM timer unless exits=0, which polls
 * with almost no exits (a device status read every few ms): the case that
 * once let the VMM's time slice stretch to seconds (fixed in VcpuLoop). */
static int wait_rx(uint64_t deadline)
{
	for (uint32_t round = 0;; round++) {
		for (uint32_t i = 0; i < SPINS; i++) {
			if (vq_used_pending(&rxq))
				return 1;
			__asm__ volatile("pause");
		}
		uint64_t now = deadline || exits ? pm_ms() : 0;
		if (deadline && now >= deadline)
			return 0;
		if (round % 256 == 255 && check_status())
			return -1;
	}
}

struct frame { uint8_t src[6]; uint8_t kind; uint32_t seq; };

/* Takes the next received frame: 1 and *fr when it is one of ours, 0 when
 * it is something else (or none is there); the buffer goes back to the device. */
static int take_frame(struct frame *fr)
{
	uint32_t id, len;
	if (!vq_pop(&rxq, &id, &len))
		return 0;
	if (id >= rxq.size) {
		vio_fail_n("receiveq used ring returned id", id);
		poweroff();
	}
	const volatile uint8_t *f = (const volatile uint8_t *)(RXBUF_AT + (uint64_t)id * BUFLEN + NET_HDR);
	int ours = len >= NET_HDR + 24 && len <= BUFLEN && f[12] == (ETHERTYPE >> 8) && f[13] == (ETHERTYPE & 0xff) &&
		f[14] == 'b' && f[15] == 'h' && f[16] == 'v' && f[17] == 't' && f[18] <= 1;
	if (ours) {
		for (int i = 0; i < 6; i++)
			fr->src[i] = f[6 + i];
		fr->kind = f[18];
		fr->seq = f[20] | (uint32_t)f[21] << 8 | (uint32_t)f[22] << 16 | (uint32_t)f[23] << 24;
	}
	post_rx((uint16_t)id);
	vq_kick(&rxq);
	return ours;
}

/* ---- roles ---------------------------------------------------------------- */

static void ping(uint64_t count)
{
	uint64_t gap = cmdline_u64("gap", 0), timeout = cmdline_u64("timeout", 200), tries = cmdline_u64("tries", 100);
	if (timeout < 1)
		timeout = 1;
	for (uint32_t seq = 1; seq <= count; seq++) {
		uint64_t n = 0;
		int ok = 0;
		while (!ok) {
			if (n == tries) {
				puts_serial("net gave up seq ");
				put_dec(seq);
				putc_serial('\n');
				return;
			}
			if (send_frame(peer, 0, seq))
				poweroff();
			n++;
			uint64_t deadline = pm_ms() + timeout;
			while (!ok) {
				int r = wait_rx(deadline);
				if (r < 0)
					poweroff();
				if (r == 0) {
					puts_serial("net timeout seq ");
					put_dec(seq);
					putc_serial('\n');
					break;
				}
				struct frame fr;
				while (vq_used_pending(&rxq))
					if (take_frame(&fr) && fr.kind == 1) {
						received++;
						if (fr.seq == seq)
							ok = 1;   /* older seqs: echoes of re-sent frames */
					}
			}
		}
		puts_serial("ping ");
		put_dec(seq);
		puts_serial(" ok\n");
		if (gap && seq < count) {
			uint64_t until = pm_ms() + gap;
			while (pm_ms() < until)
				for (int i = 0; i < SPINS; i++)
					__asm__ volatile("pause");
		}
	}
}

static uint8_t seen[SEQ_MAX / 8 + 1];

static void pong(uint64_t count)
{
	uint64_t linger = cmdline_u64("linger", 2000), missing = count;
	for (;;) {
		int r = wait_rx(missing == 0 && count ? pm_ms() + linger : 0);
		if (r < 0)
			poweroff();
		if (r == 0)
			return;   /* all seen, then quiet */
		struct frame fr;
		while (vq_used_pending(&rxq)) {
			if (!take_frame(&fr) || fr.kind != 0)
				continue;
			received++;
			if (send_frame(fr.src, 1, fr.seq))
				poweroff();
			puts_serial("pong ");
			put_dec(fr.seq);
			putc_serial('\n');
			if (fr.seq >= 1 && fr.seq <= count && fr.seq <= SEQ_MAX && !(seen[fr.seq / 8] & 1 << fr.seq % 8)) {
				seen[fr.seq / 8] |= (uint8_t)(1 << fr.seq % 8);
				missing--;
			}
		}
	}
}

int main(void)
{
	const char *role = cmdline_get("role"), *p = cmdline_get("peer");
	uint64_t count = cmdline_u64("count", 20);
	int pinger = !role || is_word(role, "ping");
	if (!pinger && !is_word(role, "pong")) {
		puts_serial("vnet: role must be ping or pong\n");
		return 0;
	}
	if (p && parse_mac(p, peer)) {
		puts_serial("vnet: peer must be xx:xx:xx:xx:xx:xx\n");
		return 0;
	}
	if (count > SEQ_MAX) {
		puts_serial("vnet: count must be at most 4096\n");
		return 0;
	}
	pm_ms();
	exits = cmdline_u64("exits", 1);

	uint8_t apic = lapic_enable();
	if (vio_find(&dev, VIRTIO_ID_NET, "virtio-net", 6) || vio_msix_enable(&dev) ||
	    vio_msix_route(&dev, 0, CONFIG_VEC, apic) || vio_msix_route(&dev, 1, RX_VEC, apic) ||
	    vio_negotiate(&dev, F_NET_MAC | F_NET_STATUS) || vio_config_vector(&dev, 0) ||
	    vq_setup(&dev, &rxq, 0, RXN, RXQ_AT, 1, 0) ||
	    vq_setup(&dev, &txq, 1, 16, TXQ_AT, NO_VECTOR, 1) || vio_driver_ok(&dev))
		return 0;
	if (!(dev.features & F_NET_MAC)) {
		vio_fail("device does not offer VIRTIO_NET_F_MAC");
		return 0;
	}
	uint8_t g;
	do {
		g = vio_generation(&dev);
		for (int i = 0; i < 6; i++)
			mac[i] = vio_cfg8(&dev, (unsigned)i);
	} while (g != vio_generation(&dev));
	puts_serial("virtio-net at 0:");
	put_dec((uint64_t)dev.slot);
	puts_serial(".0 mac ");
	put_mac(mac);
	putc_serial('\n');

	for (uint16_t i = 0; i < rxq.size; i++)
		post_rx(i);
	vq_kick(&rxq);

	if (pinger)
		ping(count);
	else
		pong(count);
	puts_serial("net done sent ");
	put_dec(sent);
	puts_serial(" received ");
	put_dec(received);
	puts_serial(" irqs ");
	put_dec(lapic_count(RX_VEC));
	putc_serial('\n');
	return 0;
}
