import { type BarSpec, MEM64_HIGH_THRESHOLD } from "./PciBar.js"
import type { PciWindows, Window } from "./PciWindows.js"

/**
 * Hands out BAR addresses at creation, each naturally aligned to its size
 * (what a BAR's hard-wired zero bits demand), bump-allocated upwards in its
 * window. Deterministic for a given order of requests.
 */
export class BarAllocator {
  private readonly next: { io: number; mem32: number; mem64: number }

  constructor(private readonly windows: PciWindows) {
    this.next = { io: windows.io.base, mem32: windows.mem32.base, mem64: windows.mem64.base }
  }

  /** The address for a new BAR, or undefined when its window is full. */
  allocate(spec: BarSpec): number | undefined {
    const key = spec.kind === "io" ? "io" : spec.kind === "mem32" || spec.size <= MEM64_HIGH_THRESHOLD ? "mem32" : "mem64"
    const window: Window = this.windows[key]
    const base = Math.ceil(this.next[key] / spec.size) * spec.size
    if (base + spec.size > window.limit) return undefined
    this.next[key] = base + spec.size
    return base
  }
}
