/**
 * The type-0 configuration header (PCI Local Bus 3.0, 6.1) and the bits of
 * it this emulation gives meaning to.
 */
export const VENDOR_ID = 0x00
export const DEVICE_ID = 0x02
export const COMMAND = 0x04
export const STATUS = 0x06
export const REVISION_ID = 0x08
/** Programming interface; subclass at 0x0A and base class at 0x0B complete the 24-bit class code. */
export const CLASS_CODE = 0x09
export const CACHE_LINE_SIZE = 0x0c
export const LATENCY_TIMER = 0x0d
export const HEADER_TYPE = 0x0e
export const BAR0 = 0x10
export const BAR_COUNT = 6
export const SUBSYSTEM_VENDOR_ID = 0x2c
export const SUBSYSTEM_ID = 0x2e
export const EXPANSION_ROM = 0x30
export const CAPABILITIES_POINTER = 0x34
export const INTERRUPT_LINE = 0x3c
export const INTERRUPT_PIN = 0x3d

/** Where capabilities start: right after the header, as bhyve places them. */
export const CAPABILITIES_START = 0x40
/** Conventional config space, the part mechanism #1 reaches. */
export const CONFIG_SPACE_SIZE = 256
/** Config space of one function through ECAM; bytes past 256 read zero (no extended capabilities). */
export const EXTENDED_CONFIG_SPACE_SIZE = 4096

export const COMMAND_IO = 0x0001
export const COMMAND_MEMORY = 0x0002
export const COMMAND_BUS_MASTER = 0x0004
export const COMMAND_INTX_DISABLE = 0x0400
/** The command bits a guest may change; bhyve leaves the same set writable (its read-only mask 0xF880). */
export const COMMAND_WRITABLE = 0x077f

/** Status bit 3: this function's INTx is asserted (whatever the command register's disable bit). */
export const STATUS_INTERRUPT = 0x0008
/** Status bit 4: a capability list starts at 0x34. */
export const STATUS_CAPABILITIES = 0x0010

/** Header type bit 7 on function 0: the slot holds more than one function. */
export const HEADER_MULTIFUNCTION = 0x80

export const CAP_VENDOR_SPECIFIC = 0x09
export const CAP_PCI_EXPRESS = 0x10
export const CAP_MSIX = 0x11

/** INTx pins as the interrupt pin register encodes them. */
export const PIN_INTA = 1
