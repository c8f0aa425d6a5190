import * as Schema from "effect/Schema"

/**
 * A machine described as data: what the command line says, what a program
 * composing a machine says, and (later) what a snapshot manifest records.
 */
export const SerialBackend = Schema.Union(
  Schema.TaggedStruct("stdio", {}),
  Schema.TaggedStruct("file", { path: Schema.String }),
  Schema.TaggedStruct("socket", { path: Schema.String })
)
export type SerialBackend = typeof SerialBackend.Type

export const SerialPort = Schema.Literal("com1", "com2")
export type SerialPort = typeof SerialPort.Type

export const SerialConfig = Schema.Struct({ port: SerialPort, backend: SerialBackend })
export type SerialConfig = typeof SerialConfig.Type

/** One `-s slot[:function],emulation[,options]` entry. */
export const PciSlotConfig = Schema.Struct({
  bus: Schema.Int,
  slot: Schema.Int,
  function: Schema.Int,
  emulation: Schema.String,
  options: Schema.optionalWith(Schema.String, { default: () => "" })
})
export type PciSlotConfig = typeof PciSlotConfig.Type

export const BootConfig = Schema.Struct({
  kernel: Schema.String,
  cmdline: Schema.optionalWith(Schema.String, { default: () => "" }),
  /** An initramfs for the kernel (-o boot.initrd=PATH); absent in configs written before it existed. */
  initrd: Schema.optional(Schema.String)
})
export type BootConfig = typeof BootConfig.Type

export const MachineConfig = Schema.Struct({
  name: Schema.String,
  cpus: Schema.Int.pipe(Schema.between(1, 64)),
  memoryBytes: Schema.Int.pipe(Schema.positive()),
  boot: BootConfig,
  serial: Schema.Array(SerialConfig),
  slots: Schema.Array(PciSlotConfig),
  /** Unclaimed guest I/O stops the VM instead of reading all-ones. */
  strictBus: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** bhyve_config(5) keys given with -o that no typed field took. */
  options: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { default: () => ({}) })
}).annotations({ identifier: "MachineConfig" })
export type MachineConfig = typeof MachineConfig.Type
