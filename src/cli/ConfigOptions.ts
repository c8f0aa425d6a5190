import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import {
  MachineConfig,
  type PciSlotConfig,
  type SerialConfig,
  type SerialPort
} from "../machine/MachineConfig.js"
import type { CpuBackendChoice } from "../kernel/Kernel.js"
import { isSerialPort, lpcDeviceProblem, parseSerialBackend } from "./LpcSyntax.js"
import { DEFAULT_MEMORY_BYTES, parseMemorySize } from "./MemorySize.js"
import { checkEmulation, implementedEmulations } from "./Emulations.js"
import { checkSlotAddress, formatSlotAddress } from "./SlotSyntax.js"

/**
 * `-o cpu.backend=` values: Kernel.ts's CPU_BACKEND_CHOICES, spelled out
 * because importing that module's values would bring the CPU backends into
 * the CLI's bundle (scripts/build-bundles.mjs); the type checks the list.
 */
const CPU_BACKEND_CHOICES = ["auto", "kvm", "soft"] as const satisfies ReadonlyArray<CpuBackendChoice>
type NoneMissing<T extends never> = T
// Compiles only while no CpuBackendChoice is missing from the list.
type MissingCpuBackends = NoneMissing<Exclude<CpuBackendChoice, (typeof CPU_BACKEND_CHOICES)[number]>>

/**
 * bhyve(8) turns every flag into configuration variables (bhyve_config(5)):
 * `-m 1G` is `memory.size=1G`, `-l com1,stdio` is `lpc.com1.path=stdio`,
 * `-H` is `x86.vmexit_on_hlt=true`. This module is that layer: a list of
 * settings, in command-line order, folded into the fields of a
 * MachineConfig. Later settings of a plain variable replace earlier ones, as
 * in bhyve; a COM port or PCI slot configured twice is an error.
 *
 * Variables with a typed home (validated here, consumed):
 *   name, cpus, memory.size, boot.kernel, boot.cmdline, boot.initrd,
 *   bus.strict (alias: bhyve's x86.strictio, which `-e` sets),
 *   cpu.backend (auto, kvm or soft; kept in `options`), cpu.announce (boolean),
 *   lpc.com1.path, lpc.com2.path, pci.BUS.SLOT.FUNC.device
 * Variables validated and kept in `options`:
 *   sockets, cores, threads (must multiply to cpus), uuid, and the booleans
 *   bhyve's single-letter flags set (acpi_tables, x86.vmexit_on_hlt, ...)
 * Refused: lpc.bootrom, lpc.com3.path, lpc.com4.path and the other LPC
 *   devices bhyve-ts has no model for.
 * Anything else is kept verbatim in `options`, as bhyve keeps arbitrary
 * variables. bhyve's "%(var)" expansion inside values is not performed.
 */

/** One configuration assignment and where on the command line it came from (for messages). */
export type Setting =
  | {
    readonly _tag: "Set"
    readonly key: string
    readonly value: string
    readonly origin: string
    /** Append to an existing value with ',' (bhyve's -p builds vcpu.N.cpuset this way). */
    readonly append?: boolean
  }
  | { readonly _tag: "Slot"; readonly slot: PciSlotConfig; readonly origin: string }

export const setting = (key: string, value: string, origin: string): Setting => ({ _tag: "Set", key, value, origin })

/** What the settings say about the machine, with nothing defaulted (the flags of a restore). */
export interface MachineOverrides {
  readonly name?: string
  readonly cpus?: number
  readonly memoryBytes?: number
  readonly boot: { readonly kernel?: string; readonly cmdline?: string; readonly initrd?: string }
  readonly serial: ReadonlyArray<SerialConfig>
  readonly slots: ReadonlyArray<PciSlotConfig>
  readonly strictBus?: boolean
  readonly options: Readonly<Record<string, string>>
}

export const MAX_VCPUS = 64
export const MAX_VMNAME_LENGTH = 31

/** bhyve_config(5) booleans set by bhyve's single-letter flags; validated, normalised, kept in `options`. */
export const booleanOptionKeys: ReadonlyArray<string> = [
  "acpi_tables",
  // bhyve-ts's own: say on stderr which CPU runs the guest.
  "cpu.announce",
  "destroy_on_poweroff",
  "memory.guest_in_core",
  "memory.wired",
  "rtc.use_localtime",
  "virtio_msix",
  "x86.mptable",
  "x86.strictmsr",
  "x86.vmexit_on_hlt",
  "x86.vmexit_on_pause",
  "x86.x2apic"
]

const topologyKeys = ["sockets", "cores", "threads"] as const
type TopologyKey = typeof topologyKeys[number]

// ---------------------------------------------------------------------------
// Value syntax

/** get_config_bool(3)'s spellings, case-insensitive. */
export const parseBoolean = (key: string, value: string): Either.Either<boolean, string> => {
  const v = value.toLowerCase()
  if (v === "true" || v === "yes" || v === "on" || v === "1") return Either.right(true)
  if (v === "false" || v === "no" || v === "off" || v === "0") return Either.right(false)
  return Either.left(`${key} must be true or false, not '${value}'`)
}

const parseCount = (what: string, value: string, max: number): Either.Either<number, string> => {
  if (!/^[0-9]+$/.test(value)) return Either.left(`${what} must be a whole number from 1 to ${max}, not '${value}'`)
  const n = Number(value)
  return n >= 1 && n <= max ? Either.right(n) : Either.left(`${what} must be from 1 to ${max}, not ${value}`)
}

/** A vmname as bhyve and vmm(4) accept it: [A-Za-z0-9_.-], at most 31 characters. */
export const parseVmName = (value: string): Either.Either<string, string> => {
  if (value === "") return Either.left("vmname must not be empty")
  if (!/^[A-Za-z0-9_.-]+$/.test(value)) {
    return Either.left("a vmname may contain only letters, digits, '_', '.' and '-'")
  }
  if (value === "." || value === "..") return Either.left(`'${value}' cannot be a vmname`)
  if (value.length > MAX_VMNAME_LENGTH) {
    return Either.left(`a vmname is at most ${MAX_VMNAME_LENGTH} characters (this one has ${value.length})`)
  }
  return Either.right(value)
}

const parseUuid = (value: string): Either.Either<string, string> =>
  /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(value)
    ? Either.right(value.toLowerCase())
    : Either.left(`uuid '${value}' is not of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`)

/** A variable name: dot-separated components without whitespace. */
export const checkVariableName = (key: string): Either.Either<string, string> => {
  if (key === "") return Either.left("empty variable name")
  if (key === "__proto__" || !/^[^\s.=]+(\.[^\s.=]+)*$/.test(key)) {
    return Either.left(`invalid variable name '${key}'`)
  }
  return Either.right(key)
}

/** `-o var=value`: the value is everything after the first '=' and may hold '=' and spaces. */
export const parseAssignment = (text: string): Either.Either<{ readonly key: string; readonly value: string }, string> => {
  const eq = text.indexOf("=")
  if (eq < 0) return Either.left("expected var=value")
  return Either.map(checkVariableName(text.slice(0, eq)), (key) => ({ key, value: text.slice(eq + 1) }))
}

/**
 * A `-k` file: `var=value` lines; blank lines and lines starting with '#'
 * are skipped (bhyve's parse_simple_config_file, plus tolerance for CRLF,
 * indentation and spaces around the name). Messages name `source` and the line.
 */
export const parseConfigFile = (text: string, source: string): Either.Either<ReadonlyArray<Setting>, string> => {
  const settings: Array<Setting> = []
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i]
    const trimmed = line.trimStart()
    if (trimmed === "" || trimmed.startsWith("#")) continue
    const origin = `${source} line ${i + 1}`
    const eq = trimmed.indexOf("=")
    if (eq < 0) return Either.left(`${origin}: expected var=value, got '${line}'`)
    const key = checkVariableName(trimmed.slice(0, eq).trimEnd())
    if (Either.isLeft(key)) return Either.left(`${origin}: ${key.left}`)
    settings.push(setting(key.right, trimmed.slice(eq + 1), origin))
  }
  return Either.right(settings)
}

// ---------------------------------------------------------------------------
// Folding settings into a machine

const PCI_DEVICE_KEY = /^pci\.([^.]+)\.([^.]+)\.([^.]+)\.device$/
const LPC_PATH_KEY = /^lpc\.([^.]+)\.path$/
const LPC_REFUSED_KEY = /^lpc\.(bootrom|bootvars|fwcfg|pc-testdev|tpm)(\..*)?$/

interface Builder {
  name?: string
  cpus?: { value: number; origin: string }
  topology: Partial<Record<TopologyKey, { value: number; origin: string }>>
  memoryBytes?: number
  kernel?: string
  cmdline?: string
  initrd?: string
  strictBus?: boolean
  serial: Map<SerialPort, { config: SerialConfig; origin: string }>
  slots: Map<string, { config: PciSlotConfig; origin: string }>
  options: Map<string, string>
}

const addSlot = (b: Builder, slot: PciSlotConfig, origin: string): Either.Either<void, string> => {
  const address = formatSlotAddress(slot)
  const existing = b.slots.get(address)
  if (existing !== undefined) return Either.left(`PCI slot ${address} is already occupied by ${existing.origin}`)
  if (slot.emulation === "lpc") {
    if (slot.bus !== 0) return Either.left("the LPC bridge must be on bus 0")
    for (const other of b.slots.values()) {
      if (other.config.emulation === "lpc") {
        return Either.left(`only one LPC bridge is allowed (${other.origin} added one)`)
      }
    }
  }
  b.slots.set(address, { config: slot, origin })
  return Either.right(undefined)
}

const apply = (b: Builder, s: Setting, implemented: ReadonlyArray<string>): Either.Either<void, string> => {
  if (s._tag === "Slot") return addSlot(b, s.slot, s.origin)
  const { key, value, origin } = s
  const done = Either.right<void>(undefined)
  switch (key) {
    case "name":
      return Either.map(parseVmName(value), (name) => {
        b.name = name
      })
    case "cpus":
      return Either.map(parseCount("cpus", value, MAX_VCPUS), (n) => {
        b.cpus = { value: n, origin }
      })
    case "sockets":
    case "cores":
    case "threads":
      return Either.map(parseCount(key, value, MAX_VCPUS), (n) => {
        b.topology[key] = { value: n, origin }
        b.options.set(key, String(n))
      })
    case "memory.size":
      return Either.map(parseMemorySize(value), (bytes) => {
        b.memoryBytes = bytes
      })
    case "boot.kernel":
      if (value === "") return Either.left("boot.kernel must not be empty")
      b.kernel = value
      return done
    case "boot.cmdline":
      b.cmdline = value
      return done
    case "boot.initrd":
      if (value === "") return Either.left("boot.initrd must not be empty")
      b.initrd = value
      return done
    case "bus.strict":
    case "x86.strictio":
      return Either.map(parseBoolean(key, value), (strict) => {
        b.strictBus = strict
      })
    case "uuid":
      return Either.map(parseUuid(value), (uuid) => {
        b.options.set(key, uuid)
      })
    case "cpu.backend":
      if (!(CPU_BACKEND_CHOICES as ReadonlyArray<string>).includes(value)) {
        return Either.left(`expected auto, kvm or soft (auto: KVM where /dev/kvm works, else the software CPU)`)
      }
      b.options.set(key, value)
      return done
  }
  if (booleanOptionKeys.includes(key)) {
    return Either.map(parseBoolean(key, value), (flag) => {
      b.options.set(key, String(flag))
    })
  }
  const lpcPath = LPC_PATH_KEY.exec(key)
  if (lpcPath !== null) {
    const device = lpcPath[1].toLowerCase()
    if (!isSerialPort(device)) return Either.left(lpcDeviceProblem(device) ?? `unknown LPC device '${device}'`)
    const existing = b.serial.get(device)
    if (existing !== undefined) return Either.left(`${device} is already configured by ${existing.origin}`)
    return Either.map(parseSerialBackend(value), (backend) => {
      b.serial.set(device, { config: { port: device, backend }, origin })
    })
  }
  if (LPC_REFUSED_KEY.test(key)) {
    return Either.left(lpcDeviceProblem(key.split(".")[1]) ?? `${key} is not supported in bhyve-ts`)
  }
  const pci = PCI_DEVICE_KEY.exec(key)
  if (pci !== null) {
    return Either.gen(function*() {
      const address = yield* checkSlotAddress(pci[1], pci[2], pci[3])
      const emulation = yield* checkEmulation(value, implemented)
      yield* addSlot(b, { ...address, emulation, options: "" }, origin)
    })
  }
  if (s.append === true) {
    const previous = b.options.get(key)
    b.options.set(key, previous === undefined ? value : `${previous},${value}`)
  } else {
    b.options.set(key, value)
  }
  return done
}

/** bhyve's calc_topology: sockets default to cpus, cores and threads to 1, and they must multiply out. */
const settleTopology = (b: Builder): Either.Either<number | undefined, string> => {
  const given = topologyKeys.filter((k) => b.topology[k] !== undefined)
  if (given.length === 0) return Either.right(b.cpus?.value)
  const sockets = b.topology.sockets?.value ?? b.cpus?.value ?? 1
  const cores = b.topology.cores?.value ?? 1
  const threads = b.topology.threads?.value ?? 1
  const product = sockets * cores * threads
  const origins = [
    ...new Set([b.cpus?.origin, ...given.map((k) => b.topology[k]?.origin)].filter((o) => o !== undefined))
  ]
  const where = origins.join(" and ")
  const shape = `(${sockets} sockets, ${cores} cores, ${threads} threads)`
  if (b.cpus !== undefined) {
    return product === b.cpus.value
      ? Either.right(b.cpus.value)
      : Either.left(`${where}: CPU topology ${shape} does not match ${b.cpus.value} vCPUs`)
  }
  return product <= MAX_VCPUS
    ? Either.right(product)
    : Either.left(`${where}: CPU topology ${shape} makes ${product} vCPUs; at most ${MAX_VCPUS} are supported`)
}

/**
 * Applies `settings` in order. The message on the left is complete: it
 * starts with the origin of the setting at fault.
 */
export const foldSettings = (
  settings: Iterable<Setting>,
  implemented: ReadonlyArray<string> = implementedEmulations
): Either.Either<MachineOverrides, string> => {
  const b: Builder = { topology: {}, serial: new Map(), slots: new Map(), options: new Map() }
  for (const s of settings) {
    const r = apply(b, s, implemented)
    if (Either.isLeft(r)) return Either.left(`${s.origin}: ${r.left}`)
  }
  return Either.map(settleTopology(b), (cpus) => ({
    ...(b.name !== undefined ? { name: b.name } : {}),
    ...(cpus !== undefined ? { cpus } : {}),
    ...(b.memoryBytes !== undefined ? { memoryBytes: b.memoryBytes } : {}),
    boot: {
      ...(b.kernel !== undefined ? { kernel: b.kernel } : {}),
      ...(b.cmdline !== undefined ? { cmdline: b.cmdline } : {}),
      ...(b.initrd !== undefined ? { initrd: b.initrd } : {})
    },
    serial: [...b.serial.values()].map((e) => e.config),
    slots: [...b.slots.values()].map((e) => e.config),
    ...(b.strictBus !== undefined ? { strictBus: b.strictBus } : {}),
    options: Object.fromEntries(b.options)
  }))
}

/**
 * Fills in bhyve's defaults (1 vCPU, 256M), insists on a vmname and a
 * kernel, and decodes the result through the MachineConfig schema.
 */
export const completeMachineConfig = (o: MachineOverrides): Either.Either<MachineConfig, string> => {
  if (o.name === undefined) return Either.left("missing vmname")
  if (o.boot.kernel === undefined) return Either.left("boot.kernel is required: pass -o boot.kernel=PATH")
  const candidate = {
    name: o.name,
    cpus: o.cpus ?? 1,
    memoryBytes: o.memoryBytes ?? DEFAULT_MEMORY_BYTES,
    boot: { kernel: o.boot.kernel, cmdline: o.boot.cmdline ?? "", ...(o.boot.initrd !== undefined ? { initrd: o.boot.initrd } : {}) },
    serial: o.serial,
    slots: o.slots,
    strictBus: o.strictBus ?? false,
    options: o.options
  }
  return Either.mapLeft(
    Schema.decodeUnknownEither(MachineConfig)(candidate),
    (e) => `internal error: the parsed configuration is not a MachineConfig: ${ParseResult.TreeFormatter.formatErrorSync(e)}`
  )
}
