import * as Data from "effect/Data"
import * as Either from "effect/Either"
import type { MachineConfig } from "../machine/MachineConfig.js"
import { formatPciAddress } from "../servers/pci/PciAddress.js"
import { rebindSlot } from "../servers/pci/SlotRebinding.js"

/** What the command line may say at a restore: everything optional, only what the flags gave. */
export interface RestoreOverrides {
  readonly name?: string
  readonly cpus?: number
  readonly memoryBytes?: number
  readonly boot?: { readonly kernel?: string; readonly cmdline?: string }
  readonly serial?: MachineConfig["serial"]
  readonly slots?: MachineConfig["slots"]
  readonly strictBus?: boolean
  readonly options?: Readonly<Record<string, string>>
}

/** Flags given with `-r` that contradict the snapshot; each difference listed. */
export class RestoreConflict extends Data.TaggedError("RestoreConflict")<{
  readonly path: string
  readonly differences: ReadonlyArray<string>
}> {
  override get message() {
    return `${this.path}: the command line contradicts the snapshot:\n  ${this.differences.join("\n  ")}`
  }
}

const show = (v: unknown) => JSON.stringify(v)

/** The CPU a snapshot's machine ran on; snapshots from before the software CPU were all KVM's. */
export const savedBackend = (saved: MachineConfig): string => saved.options["cpu.backend"] ?? "kvm"

/**
 * The machine to rebuild: the snapshot's, with backends rebound (serial
 * ports; `-s` entries of virtio-net and virtio-console naming the same slot
 * with another link or socket) and the name and options changed where the
 * flags say. Slots not given keep the snapshot's. Anything that would
 * change the hardware the guest saw (vCPUs, memory, devices, a MAC, its
 * kernel) is refused.
 */
export const applyOverrides = (path: string, saved: MachineConfig, o: RestoreOverrides): MachineConfig | RestoreConflict => {
  const differences: Array<string> = []
  const same = (what: string, given: unknown, had: unknown) => {
    if (given !== undefined && show(given) !== show(had)) differences.push(`${what}: snapshot has ${show(had)}, command line says ${show(given)}`)
  }
  same("cpus (-c)", o.cpus, saved.cpus)
  same("memory (-m)", o.memoryBytes, saved.memoryBytes)
  same("boot.kernel", o.boot?.kernel, saved.boot.kernel)
  same("boot.cmdline", o.boot?.cmdline, saved.boot.cmdline)
  // Its vCPU chunks are that CPU's own: a snapshot restores on the CPU that made it ("auto" accepts it).
  const backend = o.options?.["cpu.backend"]
  if (backend !== "auto") same("cpu.backend (-o)", backend, savedBackend(saved))
  const slots = saved.slots.map((s) => {
    const given = o.slots?.find((g) => formatPciAddress(g) === formatPciAddress(s))
    if (given === undefined) return s
    const rebound = rebindSlot(s, given)
    if (Either.isRight(rebound)) return rebound.right
    differences.push(`PCI slot ${formatPciAddress(s)} (-s): ${rebound.left}`)
    return s
  })
  for (const g of o.slots ?? []) {
    if (!saved.slots.some((s) => formatPciAddress(s) === formatPciAddress(g))) {
      differences.push(`PCI slot ${formatPciAddress(g)} (-s): the snapshot has no device there (${g.emulation})`)
    }
  }
  const ports = (s: MachineConfig["serial"]) => s.map((x) => x.port).sort()
  if (o.serial !== undefined && o.serial.length > 0) {
    for (const p of ports(o.serial)) {
      if (!ports(saved.serial).includes(p)) differences.push(`${p} (-l): the snapshot has no ${p}; only its backend can be rebound`)
    }
  }
  if (differences.length > 0) return new RestoreConflict({ path, differences })
  const serial = saved.serial.map((s) => o.serial?.find((r) => r.port === s.port) ?? s)
  return {
    ...saved,
    name: o.name ?? saved.name,
    serial,
    slots,
    strictBus: o.strictBus ?? saved.strictBus,
    options: { ...saved.options, ...o.options, "cpu.backend": savedBackend(saved) }
  }
}
