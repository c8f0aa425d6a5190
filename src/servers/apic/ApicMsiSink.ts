import type { MsiRoute, MsiSinkService } from "../pci/MsiSink.js"
import type { ApicBus } from "./ApicBus.js"

/** MSI and MSI-X messages straight to the LAPICs: every route is the same one, since the message itself says where it goes. */
export const make = (bus: ApicBus): MsiSinkService => {
  const route: MsiRoute = { send: (address, data) => bus.sendMsi(address, data) }
  return { route: () => route }
}
