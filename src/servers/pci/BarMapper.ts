import type { BusRouter } from "../../bus/Bus.js"
import type { MmioHandler, PioHandler } from "../../bus/DeviceHandlers.js"
import type { Claim } from "../../bus/RangeTable.js"
import type { BarWindow } from "./PciFunction.js"
import type { ReportOnce } from "./ReportOnce.js"

type Mapped =
  | { readonly window: BarWindow; readonly space: "pio"; readonly claim: Claim<PioHandler> }
  | { readonly window: BarWindow; readonly space: "mmio"; readonly claim: Claim<MmioHandler> }

/** An I/O BAR answers port accesses with the same handler; PIO values are plain numbers. */
const asPio = (handler: MmioHandler): PioHandler => ({
  read: (offset, size) => {
    const v = handler.read(offset, size)
    return typeof v === "bigint" ? Number(v & 0xffffffffn) : v
  },
  write: (offset, size, value) => handler.write(offset, size, value)
})

/**
 * Keeps a function's decoded BARs claimed on the Bus, synchronously: the
 * guest moves a BAR or flips a decode bit from inside a config-space exit
 * handler, and the next access must already go to the new place. Claims
 * are made directly on the router's range tables (the Bus's scoped
 * registration is for ranges fixed at build time); `release` drops them all.
 * A window that cannot be claimed (overlap, past the address space — e.g.
 * while the guest sizes a BAR with decoding left on) is left unmapped and
 * reported once.
 */
export class BarMapper {
  private readonly mapped = new Map<number, Mapped>()

  constructor(
    private readonly router: BusRouter,
    private readonly owner: string,
    private readonly handlers: ReadonlyArray<MmioHandler | undefined>,
    private readonly report: ReportOnce
  ) {}

  sync(windows: ReadonlyArray<BarWindow>): void {
    const wanted = new Map(windows.filter((w) => this.handlers[w.index] !== undefined).map((w) => [w.index, w]))
    for (const [index, m] of this.mapped) {
      const w = wanted.get(index)
      if (w === undefined || w.base !== m.window.base || w.space !== m.window.space || w.length !== m.window.length) this.unmap(index, m)
    }
    for (const [index, w] of wanted) if (!this.mapped.has(index)) this.map(w)
  }

  release(): void {
    for (const [index, m] of this.mapped) this.unmap(index, m)
  }

  /** Where each BAR is claimed now (for tests and diagnostics). */
  current(): ReadonlyArray<BarWindow> {
    return [...this.mapped.values()].map((m) => m.window)
  }

  private map(w: BarWindow): void {
    const handler = this.handlers[w.index]
    if (handler === undefined) return
    const { owner } = this
    const { base, length } = w
    let error
    if (w.space === "pio") {
      const claim: Claim<PioHandler> = { owner, base, length, handler: asPio(handler) }
      error = this.router.pio.add(claim)
      if (error === undefined) this.mapped.set(w.index, { window: w, space: "pio", claim })
    } else {
      const claim: Claim<MmioHandler> = { owner, base, length, handler }
      error = this.router.mmio.add(claim)
      if (error === undefined) this.mapped.set(w.index, { window: w, space: "mmio", claim })
    }
    if (error !== undefined) this.report(`${owner}/bar${w.index}@${base}`, `${owner}: BAR ${w.index} left unmapped: ${error.message}`)
  }

  private unmap(index: number, m: Mapped): void {
    if (m.space === "pio") this.router.pio.remove(m.claim)
    else this.router.mmio.remove(m.claim)
    this.mapped.delete(index)
  }
}
