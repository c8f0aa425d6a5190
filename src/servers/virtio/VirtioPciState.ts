import * as Schema from "effect/Schema"
import { MsixState } from "../pci/MsixState.js"
import { PciFunctionState } from "../pci/PciFunctionState.js"
import { VirtioTransportState } from "./VirtioTransportState.js"

/** A virtio PCI function whole: config space, MSI-X table, transport. Every virtio device's state embeds it. */
export const VirtioPciState = Schema.Struct({
  pci: PciFunctionState,
  msix: MsixState,
  transport: VirtioTransportState
}).annotations({ identifier: "VirtioPciState" })
export type VirtioPciState = typeof VirtioPciState.Type
