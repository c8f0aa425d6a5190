/** A function's place on the PCI bus. */
export interface PciAddress {
  readonly bus: number
  readonly slot: number
  readonly function: number
}

/** "0:4:0", the way bhyve names an address in messages and config keys. */
export const formatPciAddress = (a: PciAddress): string => `${a.bus}:${a.slot}:${a.function}`

/** A device server id for the function: snapshot chunk ids allow letters, digits and . _ : / - only. */
export const pciServerId = (emulation: string, a: PciAddress): string => `${emulation}.pci.${a.bus}.${a.slot}.${a.function}`
