/* vcons: a virtio-console driver (virtio 1.x modern PCI, 1af4:1043) on the
 * driver core (common/virtio-pci.c): port 0 only (no MULTIPORT), receiveq 0
 * with 16 buffers of 256 bytes posted, transmitq 1, both polled.
 *
 * cmdline: text=T [hello_from_vcons; '_' is sent as a space]
 *          echo=N [0; lines to receive and echo]  wait=1 [0: send text at
 *          once; 1: only once the first input arrived, for hosts that
 *          connect after the guest started: output with no one listening
 *          is dropped]
 *
 * Output on COM1, exactly (then power off):
 *   virtio-console at 0:<slot>.0
 *   console tx <text>              after writing "<text>\n" to transmitq
 *   console rx <line>              for each of `echo` lines received (without
 *                                  its '\n', '\r' dropped, at most 200 chars
 *                                  a line), after writing "<line>\n" back
 *   console done
 * Device problems: virtio error ..., and power off. */
#include "guest.h"
#include "virtio-pci.h"

#define QBASE     0x1000000ULL
#define RXQ_AT    QBASE
#define TXQ_AT    (QBASE + VQ_BYTES)
#define RXBUF_AT  (QBASE + 0x10000)
#define TXBUF_AT  (QBASE + 0x20000)
#define RXN       16
#define RXLEN     256
#define LINE_MAX  200
#define SPINS     4096

static struct vdev dev;
static struct vq rxq, txq;

/* Spins until `q` has a used element; 0, or -1 when the device broke. */
static int wait_used(struct vq *q)
{
	while (!vq_used_pending(q)) {
		for (uint32_t i = 0; i < SPINS && !vq_used_pending(q); i++)
			__asm__ volatile("pause");
		if (vq_used_pending(q))
			break;
		uint8_t st = vio_status(&dev);
		if (st & (S_NEEDS_RESET | S_FAILED))
			return vio_fail_n("device needs reset, status", st);
	}
	return 0;
}

/* Writes `n` bytes (then a '\n') to transmitq and waits until they are taken. */
static int transmit(const char *s, uint32_t n)
{
	volatile char *b = (volatile char *)TXBUF_AT;
	for (uint32_t i = 0; i < n; i++)
		b[i] = s[i];
	b[n] = '\n';
	vq_set_desc(&txq, 0, TXBUF_AT, n + 1, 0, 0);
	vq_add(&txq, 0);
	vq_kick(&txq);
	if (wait_used(&txq))
		return -1;
	uint32_t id, len;
	vq_pop(&txq, &id, &len);
	return id == 0 ? 0 : vio_fail_n("transmitq used ring returned id", id);
}

/* Sends the guest's line and says so on COM1. */
static int send_text(const char *s, uint32_t n)
{
	if (transmit(s, n))
		return -1;
	puts_serial("console tx ");
	puts_serial(s);
	putc_serial('\n');
	return 0;
}

static void post_rx(uint16_t i)
{
	vq_set_desc(&rxq, i, RXBUF_AT + (uint64_t)i * RXLEN, RXLEN, DESC_WRITE, 0);
	vq_add(&rxq, i);
}

int main(void)
{
	uint64_t echo = cmdline_u64("echo", 0), wait = cmdline_u64("wait", 0);
	char text[LINE_MAX + 1];
	const char *t = cmdline_get("text");
	if (!t)
		t = "hello_from_vcons";
	uint32_t tn = 0;
	for (; tn < LINE_MAX && t[tn] && t[tn] != ' '; tn++)
		text[tn] = t[tn] == '_' ? ' ' : t[tn];
	text[tn] = 0;

	if (vio_find(&dev, VIRTIO_ID_CONSOLE, "virtio-console", 0) || vio_negotiate(&dev, 0) ||
	    vq_setup(&dev, &rxq, 0, RXN, RXQ_AT, NO_VECTOR, 1) ||
	    vq_setup(&dev, &txq, 1, 8, TXQ_AT, NO_VECTOR, 1) || vio_driver_ok(&dev))
		return 0;
	puts_serial("virtio-console at 0:");
	put_dec((uint64_t)dev.slot);
	puts_serial(".0\n");
	for (uint16_t i = 0; i < rxq.size; i++)
		post_rx(i);
	vq_kick(&rxq);

	int sent = 0;
	char line[LINE_MAX + 1];
	uint32_t ln = 0;
	for (uint64_t lines = 0; !sent || lines < echo;) {
		if (!sent && !wait) {
			if (send_text(text, tn))
				return 0;
			sent = 1;
			continue;
		}
		if (wait_used(&rxq))
			return 0;
		uint32_t id, len;
		vq_pop(&rxq, &id, &len);
		if (id >= rxq.size || len > RXLEN) {
			vio_fail_n("receiveq used ring returned id", id);
			return 0;
		}
		if (!sent) {   /* wait=1: the first input is here, someone listens */
			wait = 0;
			if (send_text(text, tn))
				return 0;
			sent = 1;
		}
		const volatile char *b = (const volatile char *)(RXBUF_AT + (uint64_t)id * RXLEN);
		for (uint32_t i = 0; i < len && lines < echo; i++) {
			char c = b[i];
			if (c == '\r')
				continue;
			if (c != '\n' && ln < LINE_MAX) {
				line[ln++] = c;
				continue;
			}
			if (c != '\n')   /* too long: cut here, the rest is the next line */
				i--;
			line[ln] = 0;
			if (transmit(line, ln))
				return 0;
			puts_serial("console rx ");
			puts_serial(line);
			putc_serial('\n');
			ln = 0;
			lines++;
		}
		post_rx((uint16_t)id);
		vq_kick(&rxq);
	}
	puts_serial("console done\n");
	return 0;
}
