import * as Either from "effect/Either"
import { parseAssignment, type Setting, setting } from "./ConfigOptions.js"
import { emulationHelp, implementedEmulations } from "./Emulations.js"
import { lpcHelp, parseLpcArgument } from "./LpcSyntax.js"
import { parseSlot } from "./SlotSyntax.js"

/**
 * The `bhyve` command declared as data: each flag, what it does, and how
 * `--help` describes it. The getopt option string and the usage text are
 * both derived from this one table.
 *
 * Why not @effect/cli: an experiment (Descriptor.parse over Options.text("c"),
 * Options.boolean("A"), ... with Options.repeated) showed it cannot read
 * bhyve's command line faithfully: "-c2" (getopt's attached argument) was
 * taken as the vmname, a cluster such as "-AHP" was silently dropped, a
 * repeated "-c 2 -c 3" left "-c" as the vmname instead of overriding, and an
 * unknown "-Z" became the vmname rather than an error. It also needs
 * FileSystem/Path/Terminal services to parse and reports through its own
 * ValidationError/help machinery, not bhyve's "bhyve: msg" with status 4.
 * So this is a small getopt (see Getopt.ts) and hand-built help.
 */

/** What one occurrence of a flag asks for. */
export type FlagAction =
  | { readonly _tag: "Settings"; readonly settings: ReadonlyArray<Setting> }
  | { readonly _tag: "ConfigFile"; readonly path: string }
  | { readonly _tag: "Restore"; readonly snapshot: string }
  | { readonly _tag: "Help"; readonly text: string }

/**
 * "active": bhyve-ts acts on it. "compat": accepted for bhyve compatibility;
 * the variable it sets is recorded in `options` but has no effect (yet).
 * "refused": recognised, and rejected with the reason.
 */
export type FlagRole = "active" | "compat" | "refused"

export interface FlagSpec {
  readonly letter: string
  /** Placeholder for the flag's argument in the usage text; absent for flags without one. */
  readonly argument?: string
  readonly role: FlagRole
  readonly help: string
  /** `origin` is how messages name this occurrence ("-m 12Q"). Left: the reason, without the origin. */
  readonly handle: (argument: string, origin: string) => Either.Either<FlagAction, string>
}

const settings = (...list: ReadonlyArray<Setting>): Either.Either<FlagAction, string> =>
  Either.right({ _tag: "Settings", settings: list })

/** A flag without argument that sets one boolean variable, as bhyve's do. */
const boolFlag = (letter: string, key: string, value: boolean, role: FlagRole, help: string): FlagSpec => ({
  letter,
  role,
  help: `${help} (${key}=${value})`,
  handle: (_, origin) => settings(setting(key, String(value), origin))
})

const refused = (letter: string, argument: string, reason: string): FlagSpec => ({
  letter,
  argument,
  role: "refused",
  help: reason,
  handle: () => Either.left(reason)
})

/** `-c [[cpus=]N][,sockets=N][,cores=N][,threads=N]` into the variables bhyve's topology_parse sets. */
export const parseTopologyArgument = (text: string, origin: string): Either.Either<ReadonlyArray<Setting>, string> => {
  if (text === "") return Either.left("missing vCPU count")
  const out: Array<Setting> = []
  for (const item of text.split(",")) {
    const eq = item.indexOf("=")
    if (item === "") return Either.left("empty item in CPU topology")
    if (eq < 0) {
      out.push(setting("cpus", item, origin))
      continue
    }
    const key = item.slice(0, eq)
    if (key !== "cpus" && key !== "sockets" && key !== "cores" && key !== "threads") {
      return Either.left(`unknown CPU topology key '${key}' (expected cpus, sockets, cores or threads)`)
    }
    out.push(setting(key, item.slice(eq + 1), origin))
  }
  return Either.right(out)
}

/** bhyve's pincpu_parse: `vcpu:hostcpu` appended to vcpu.N.cpuset. */
const parsePin = (text: string, origin: string): Either.Either<FlagAction, string> => {
  const m = /^([0-9]+):([0-9]+)$/.exec(text)
  if (m === null) return Either.left("expected vcpu:hostcpu")
  return Either.right({
    _tag: "Settings",
    settings: [{ _tag: "Set", key: `vcpu.${Number(m[1])}.cpuset`, value: String(Number(m[2])), origin, append: true }]
  })
}

export const bhyveFlags: ReadonlyArray<FlagSpec> = [
  {
    letter: "c",
    argument: "[[cpus=]N][,sockets=N][,cores=N][,threads=N]",
    role: "active",
    help: "number of vCPUs, 1..64 (default 1); sockets x cores x threads must equal N",
    handle: (arg, origin) =>
      Either.map(parseTopologyArgument(arg, origin), (list) => ({ _tag: "Settings", settings: list }))
  },
  {
    letter: "m",
    argument: "size",
    role: "active",
    help: "guest memory, N with a K, M, G or T suffix; a bare N below 1M counts MiB (default 256M, 1M..1T)",
    handle: (arg, origin) => settings(setting("memory.size", arg, origin))
  },
  {
    letter: "l",
    argument: "comN,backend",
    role: "active",
    help: "com1 or com2 on stdio, socket:PATH (a Unix socket), file:PATH or a PATH with '/'; '-l help' lists devices",
    handle: (arg, origin) =>
      arg === "help"
        ? Either.right({ _tag: "Help", text: lpcHelp })
        : Either.map(parseLpcArgument(arg), ({ key, value }) => ({
          _tag: "Settings",
          settings: [setting(key, value, origin)]
        }))
  },
  {
    letter: "s",
    argument: "[bus:]slot[:func],emulation[,conf]",
    role: "active",
    help: `PCI device (implemented: ${implementedEmulations.join(", ")}); '-s help' lists emulations`,
    handle: (arg, origin) =>
      arg === "help"
        ? Either.right({ _tag: "Help", text: emulationHelp() })
        : Either.map(parseSlot(arg), (slot) => ({ _tag: "Settings", settings: [{ _tag: "Slot", slot, origin }] }))
  },
  {
    letter: "o",
    argument: "var=value",
    role: "active",
    help: "set a configuration variable (see below); repeatable, the last setting wins",
    handle: (arg, origin) =>
      Either.map(parseAssignment(arg), ({ key, value }) => ({
        _tag: "Settings",
        settings: [setting(key, value, origin)]
      }))
  },
  {
    letter: "k",
    argument: "file",
    role: "active",
    help: "read var=value lines from file ('#' starts a comment line), in order with -o",
    handle: (arg) => arg === "" ? Either.left("missing file name") : Either.right({ _tag: "ConfigFile", path: arg })
  },
  {
    letter: "r",
    argument: "file",
    role: "active",
    help: "restore the machine from a snapshot instead of booting; other flags override it",
    handle: (arg) =>
      arg === "" ? Either.left("missing snapshot file name") : Either.right({ _tag: "Restore", snapshot: arg })
  },
  boolFlag("e", "bus.strict", true, "active", "stop when the guest touches an I/O port or address no device claims"),
  {
    letter: "h",
    role: "active",
    help: "print this help (also --help)",
    handle: () => Either.right({ _tag: "Help", text: bhyveUsage })
  },
  boolFlag("a", "x86.x2apic", false, "compat", "local APIC in xAPIC mode"),
  boolFlag("A", "acpi_tables", true, "compat", "generate ACPI tables"),
  boolFlag("C", "memory.guest_in_core", true, "compat", "include guest memory in core dumps"),
  boolFlag("D", "destroy_on_poweroff", true, "compat", "destroy the VM on power-off"),
  boolFlag("H", "x86.vmexit_on_hlt", true, "compat", "yield the host CPU on HLT"),
  {
    letter: "I",
    role: "compat",
    help: "present an I/O APIC (deprecated in bhyve, ignored there too)",
    handle: () => settings()
  },
  boolFlag("P", "x86.vmexit_on_pause", true, "compat", "exit on PAUSE"),
  boolFlag("S", "memory.wired", true, "compat", "wire guest memory"),
  boolFlag("u", "rtc.use_localtime", false, "compat", "RTC keeps UTC"),
  boolFlag("W", "virtio_msix", false, "compat", "virtio uses MSI, not MSI-X"),
  boolFlag("w", "x86.strictmsr", false, "compat", "ignore unimplemented MSRs"),
  boolFlag("x", "x86.x2apic", true, "compat", "local APIC in x2APIC mode"),
  boolFlag("Y", "x86.mptable", false, "compat", "no MP table"),
  {
    letter: "p",
    argument: "vcpu:hostcpu",
    role: "compat",
    help: "pin a vCPU to a host CPU (vcpu.N.cpuset)",
    handle: parsePin
  },
  {
    letter: "K",
    argument: "layout",
    role: "compat",
    help: "keyboard layout (keyboard.layout)",
    handle: (arg, origin) => settings(setting("keyboard.layout", arg, origin))
  },
  {
    letter: "U",
    argument: "uuid",
    role: "compat",
    help: "system UUID (uuid)",
    handle: (arg, origin) => settings(setting("uuid", arg, origin))
  },
  refused("G", "[w][bind:]port", "the gdb stub is not supported in bhyve-ts"),
  refused("f", "name,[string|file]=data", "fw_cfg items are not supported in bhyve-ts (they serve a UEFI boot ROM)")
]

/** getopt(3) option string for `bhyveFlags` ("c:m:l:...eh..."). */
export const bhyveOptstring: string = bhyveFlags.map((f) => f.argument === undefined ? f.letter : `${f.letter}:`).join("")

/** Long spellings getopt also accepts, mapped to their letter. */
export const bhyveLongAliases: Readonly<Record<string, string>> = { help: "h" }

export const findFlag = (letter: string): FlagSpec | undefined => bhyveFlags.find((f) => f.letter === letter)

// ---------------------------------------------------------------------------
// Usage text

const WIDTH = 80

const wrap = (words: ReadonlyArray<string>, first: string, indent: string): string => {
  const lines: Array<string> = []
  let line = first
  for (const word of words) {
    if (line.length + 1 + word.length > WIDTH && line.trim() !== "" && line !== first) {
      lines.push(line)
      line = indent + word
    } else {
      line = line === first ? `${line}${word}` : `${line} ${word}`
    }
  }
  lines.push(line)
  return lines.join("\n")
}

const describe = (f: FlagSpec): string => {
  const head = `  -${f.letter}${f.argument === undefined ? "" : ` ${f.argument}`}`
  const column = 16
  return head.length < column - 1
    ? wrap(f.help.split(" "), head.padEnd(column), " ".repeat(column))
    : `${head}\n${wrap(f.help.split(" "), " ".repeat(column), " ".repeat(column))}`
}

const synopsis = (): string => {
  const bare = bhyveFlags.filter((f) => f.argument === undefined && f.role !== "refused").map((f) => f.letter)
  const sorted = [...bare].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()) || a.localeCompare(b))
  const withArgs = bhyveFlags
    .filter((f) => f.argument !== undefined && f.role !== "refused")
    .map((f) => `[-${f.letter} ${f.argument}]`)
  return wrap([`[-${sorted.join("")}]`, ...withArgs, "vmname"], "Usage: bhyve ", "             ")
}

const section = (title: string, role: FlagRole): string =>
  [title, ...bhyveFlags.filter((f) => f.role === role).map(describe)].join("\n")

/** What `bhyve -h` prints. */
export const bhyveUsage: string = [
  synopsis(),
  "",
  "Runs a virtual machine on Linux KVM with FreeBSD bhyve(8)'s command line.",
  "Options come before the vmname ([A-Za-z0-9_.-], at most 31 characters).",
  "",
  section("Options:", "active"),
  "",
  section("Accepted for compatibility (recorded as the variable shown, no effect yet):", "compat"),
  "",
  section("Recognised but not supported:", "refused"),
  "",
  "Configuration variables (-o var=value, or lines of a -k file):",
  "  name=vmname            the vmname (the command-line vmname wins)",
  "  boot.kernel=PATH       the kernel to load (required unless -r): a PVH or",
  "                         x86-64 ELF kernel, or a Linux bzImage",
  "  boot.cmdline=STRING    its command line; may contain spaces and '='",
  "  boot.initrd=PATH       an initramfs for a PVH kernel or a bzImage",
  "  cpus=N, sockets=N, cores=N, threads=N    as -c",
  "  cpu.backend=auto|kvm|soft  the CPU: KVM, or the software CPU (Unicorn);",
  "                         auto (default) takes KVM where /dev/kvm works",
  "  cpu.announce=true      say on stderr which CPU runs the guest",
  "  memory.size=SIZE       as -m",
  "  bus.strict=true|false  as -e (bhyve's x86.strictio is accepted too)",
  "  lpc.com1.path=BACKEND, lpc.com2.path=BACKEND    as -l",
  "  pci.BUS.SLOT.FUNC.device=EMULATION             as -s",
  "  any other variable is kept and passed on unchanged",
  "",
  "Exit status 4 means the command line could not be used."
].join("\n") + "\n"
