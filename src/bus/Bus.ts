import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { type AccessSize, allOnes, type MmioHandler, type PioHandler } from "./DeviceHandlers.js"
import { type BadRange, type BusConflict, UnclaimedAccess, type AddressSpace } from "./BusErrors.js"
import { RangeTable, type Claim } from "./RangeTable.js"

export interface BusOptions {
  /** Stop the VM on an access no server claims, instead of reading all-ones. */
  readonly strict: boolean
  /** Where the one-per-address report of unclaimed accesses goes. */
  readonly report: (message: string) => void
}

/**
 * Routes every PIO/MMIO exit, by address range, to the one server that
 * claimed it. The dispatch methods are the exit hot path: synchronous, no
 * allocation beyond what a handler itself does.
 */
export class BusRouter {
  readonly pio = new RangeTable<PioHandler>("pio", 0x10000)
  readonly mmio = new RangeTable<MmioHandler>("mmio", 2 ** 52)
  /** Set in strict mode by an unclaimed access; the vCPU loop stops the VM with it. */
  fault: UnclaimedAccess | undefined = undefined
  private readonly reported = new Set<string>()

  constructor(readonly options: BusOptions) {}

  pioRead(port: number, size: AccessSize): number {
    const c = this.pio.find(port)
    if (c === undefined) return this.unclaimed("pio", port, size, "read") as number
    return c.handler.read(port - c.base, size)
  }

  pioWrite(port: number, size: AccessSize, value: number): void {
    const c = this.pio.find(port)
    if (c === undefined) this.unclaimed("pio", port, size, "write")
    else c.handler.write(port - c.base, size, value)
  }

  mmioRead(address: number, size: AccessSize): number | bigint {
    const c = this.mmio.find(address)
    if (c === undefined) {
      const ones = this.unclaimed("mmio", address, size, "read")
      return size === 8 ? 0xffffffffffffffffn : ones
    }
    return c.handler.read(address - c.base, size)
  }

  mmioWrite(address: number, size: AccessSize, value: number | bigint): void {
    const c = this.mmio.find(address)
    if (c === undefined) this.unclaimed("mmio", address, size, "write")
    else c.handler.write(address - c.base, size, value)
  }

  private unclaimed(space: AddressSpace, address: number, size: AccessSize, direction: "read" | "write"): number {
    if (this.options.strict) {
      this.fault ??= new UnclaimedAccess({ space, address, size, direction })
    } else {
      const key = `${space}:${address}`
      if (!this.reported.has(key)) {
        this.reported.add(key)
        this.options.report(`${new UnclaimedAccess({ space, address, size, direction }).message} (reads all-ones, writes ignored; reported once)`)
      }
    }
    return allOnes(size)
  }
}

/** The machine's I/O bus. Servers register their ranges here when their layer is built. */
export class Bus extends Context.Tag("bhyve-ts/Bus")<Bus, BusRouter>() {}

export const registerPio = (owner: string, base: number, length: number, handler: PioHandler) =>
  claim(owner, base, length, handler, (bus) => bus.pio)

export const registerMmio = (owner: string, base: number, length: number, handler: MmioHandler) =>
  claim(owner, base, length, handler, (bus) => bus.mmio)

/** Claims a range for the life of the current scope. */
const claim = <H>(
  owner: string,
  base: number,
  length: number,
  handler: H,
  table: (bus: BusRouter) => RangeTable<H>
): Effect.Effect<void, BusConflict | BadRange, Bus | Scope.Scope> =>
  Effect.flatMap(Bus, (bus) => {
    const entry: Claim<H> = { owner, base, length, handler }
    return Effect.acquireRelease(
      Effect.suspend(() => {
        const error = table(bus).add(entry)
        return error === undefined ? Effect.void : Effect.fail(error)
      }),
      () => Effect.sync(() => table(bus).remove(entry))
    )
  })

export const layer = (options: Partial<BusOptions> = {}): Layer.Layer<Bus> =>
  Layer.sync(Bus, () =>
    new BusRouter({
      strict: options.strict ?? false,
      report: options.report ?? ((message) => process.stderr.write(`bhyve: ${message}\n`))
    })
  )
