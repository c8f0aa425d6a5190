/**
 * The Differentiated System Description Table, in AML: \_S5 (the sleep
 * type PM1a_CNT powers off with) and, when the machine has PCI, the host
 * bridge \_SB.PCI0 with its windows (_CRS) and INTx routing (_PRT).
 * Revision 2, so integers are 64 bits (the 64-bit MMIO window needs it).
 */
import { type FirmwarePlatform, intxRoutes, PM, type PciPlatform } from "../FirmwarePlatform.js"
import { acpiTable } from "./AcpiHeader.js"
import { type Aml, device, eisaId, integer, name, packageOf, scope, terms } from "./Aml.js"
import { dwordMemory, ioPort, qwordMemory, resourceTemplate, wordBusNumber, wordIo } from "./AmlResources.js"

export const DSDT_REVISION = 2

/** Config mechanism #1's ports, which the bridge consumes rather than forwards. */
const CONFIG_PORTS = { base: 0xcf8, size: 8 }
/** Port ranges forwarded to PCI: everything but 0xCF8-0xCFF, as bhyve's DSDT. */
const IO_BELOW_CONFIG = { min: 0x0000, max: 0x0cf7 }
const IO_ABOVE_CONFIG = { min: 0x0d00, max: 0xffff }

/** Package { SLP_TYPa, SLP_TYPb }: what the guest writes to PM1a_CNT.SLP_TYP with SLP_EN to power off. */
const sleepS5 = (): Aml => name("_S5", packageOf(integer(PM.slpTypS5), integer(0)))

const hostBridgeResources = (pci: PciPlatform): Aml =>
  resourceTemplate(
    wordBusNumber({ min: pci.busStart, max: pci.busEnd }),
    ioPort(CONFIG_PORTS.base, CONFIG_PORTS.size),
    wordIo(IO_BELOW_CONFIG),
    wordIo(IO_ABOVE_CONFIG),
    dwordMemory({ min: pci.windows.mem32.base, max: pci.windows.mem32.limit - 1 }),
    qwordMemory({ min: pci.windows.mem64.base, max: pci.windows.mem64.limit - 1 })
  )

/** _PRT in APIC mode: Package { Address (slot << 16 | 0xFFFF: any function), Pin, Source 0 (a GSI, not a link device), GSI }. */
const routingTable = (pci: PciPlatform): Aml =>
  packageOf(...intxRoutes(pci).map((r) =>
    packageOf(integer(((r.slot << 16) | 0xffff) >>> 0), integer(r.pin), integer(0), integer(r.gsi))
  ))

const hostBridge = (pci: PciPlatform): Aml =>
  device("PCI0",
    name("_HID", eisaId("PNP0A08")),
    name("_CID", eisaId("PNP0A03")),
    name("_SEG", integer(0)),
    name("_BBN", integer(pci.busStart)),
    name("_UID", integer(0)),
    name("_CRS", hostBridgeResources(pci)),
    name("_PRT", routingTable(pci)))

/** The DSDT's definition block body (its TermList), without the table header. "_SB" is relative to the root, as iasl writes it. */
export const dsdtBody = (platform: FirmwarePlatform): Aml =>
  terms(sleepS5(), ...(platform.pci === undefined ? [] : [scope("_SB", hostBridge(platform.pci))]))

export const dsdt = (platform: FirmwarePlatform): Uint8Array =>
  acpiTable({ signature: "DSDT", revision: DSDT_REVISION, oemTableId: "BVDSDT" }, dsdtBody(platform))
