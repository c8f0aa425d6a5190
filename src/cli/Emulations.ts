import * as Either from "effect/Either"

/**
 * PCI device emulations by the names bhyve(8) gives them in `-s`, and which
 * of them this build can actually run. Extend `implementedEmulations` as
 * device models land; a name bhyve knows but we do not implement is refused
 * with a message that says so, rather than as an unknown name.
 */

/** Every emulation name FreeBSD's bhyve accepts in `-s` (including its legacy aliases). */
export const knownEmulations: ReadonlyArray<string> = [
  "hostbridge",
  "amd_hostbridge",
  "lpc",
  "ahci",
  "ahci-hd",
  "ahci-cd",
  "e1000",
  "fbuf",
  "hda",
  "nvme",
  "passthru",
  "uart",
  "virtio-9p",
  "virtio-blk",
  "virtio-console",
  "virtio-input",
  "virtio-net",
  "virtio-rnd",
  "virtio-scsi",
  "wdt",
  "xhci"
]

/** The emulations this build implements. `lpc` holds COM1/COM2 and the RTC, as in bhyve. */
export const implementedEmulations: ReadonlyArray<string> = ["hostbridge", "amd_hostbridge", "lpc", "virtio-rnd", "virtio-blk", "virtio-console", "virtio-net"]

export type EmulationStatus = "implemented" | "not-implemented" | "unknown"

export const emulationStatus = (
  name: string,
  implemented: ReadonlyArray<string> = implementedEmulations
): EmulationStatus =>
  implemented.includes(name) ? "implemented" : knownEmulations.includes(name) ? "not-implemented" : "unknown"

/** The `conf` each implemented emulation takes after its name in `-s slot,emulation[,conf]`. */
const emulationOptions: { readonly [name: string]: string } = {
  hostbridge: "",
  amd_hostbridge: "",
  lpc: "",
  "virtio-rnd": "",
  "virtio-blk": ",PATH[,ro][,sectorsize=LOGICAL[/PHYSICAL]][,ser=ID][,nodelete][,sync]",
  "virtio-console": ",port1=SOCKETPATH | ,socket=SOCKETPATH | ,stdio",
  "virtio-net": "[,tapN | ,tap=IFNAME | ,unix=LOCALPATH:PEERPATH | ,udp=LOCALPORT:PEERPORT][,mac=xx:xx:xx:xx:xx:xx]"
}

/** What `bhyve -s help` prints: one emulation per line, with its options when implemented. */
export const emulationHelp = (implemented: ReadonlyArray<string> = implementedEmulations): string =>
  [...new Set([...implemented, ...knownEmulations])]
    .map((name) => (implemented.includes(name) ? `${name}${emulationOptions[name] ?? ""}` : `${name} (not implemented yet in bhyve-ts)`))
    .join("\n") + "\n"

/** Right when this build can run `name`; otherwise the reason, worded for a usage error. */
export const checkEmulation = (
  name: string,
  implemented: ReadonlyArray<string> = implementedEmulations
): Either.Either<string, string> => {
  switch (emulationStatus(name, implemented)) {
    case "implemented":
      return Either.right(name)
    case "not-implemented":
      return Either.left(`emulation '${name}' is not implemented yet in bhyve-ts`)
    case "unknown":
      return Either.left(`unknown emulation '${name}'`)
  }
}
