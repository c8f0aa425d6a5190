import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Bus from "../../bus/Bus.js"
import type { BadRange, BusConflict } from "../../bus/BusErrors.js"
import { announce, type DeviceServers } from "../DeviceServer.js"
import { InterruptController } from "../InterruptController.js"
import { BarAllocator } from "./BarAllocator.js"
import { BarMapper } from "./BarMapper.js"
import * as ConfigMechanism1 from "./ConfigMechanism1.js"
import * as Ecam from "./Ecam.js"
import { intxLine, IntxRouter } from "./IntxRouter.js"
import { formatPciAddress } from "./PciAddress.js"
import { type AttachRequest, PciBus, type PciBusService } from "./PciBus.js"
import { PCI_BUS_STATE_VERSION, PciBusState } from "./PciBusState.js"
import { BarSpaceExhausted, type PciAttachError, PciSlotTaken } from "./PciErrors.js"
import { PciTopology } from "./PciTopology.js"
import { pciWindows } from "./PciWindows.js"
import { reportOnce } from "./ReportOnce.js"

export interface PciBusOptions {
  /** Guest RAM in bytes: the 64-bit BAR window starts above high RAM. */
  readonly memoryBytes: number
  /** Where problems go (a BAR the guest moved onto another range...); the Bus's reporter by default. */
  readonly report?: (message: string) => void
}

/**
 * PCI bus 0 as a server: config mechanism #1 on 0xCF8 (one port: 0xCF9 is
 * the reset control's) and 0xCFC-0xCFF, the ECAM window at 0xE0000000, and
 * the service device layers attach their functions through.
 */
export const layer = (
  options: PciBusOptions
): Layer.Layer<PciBus, BusConflict | BadRange, Bus.Bus | DeviceServers | InterruptController> =>
  Layer.scoped(
    PciBus,
    Effect.gen(function* () {
      const router = yield* Bus.Bus
      const controller = yield* InterruptController
      const report = options.report ?? router.options.report
      const once = reportOnce(report)
      const topology = new PciTopology()
      const windows = pciWindows(options.memoryBytes)
      const allocator = new BarAllocator(windows)
      const intx = new IntxRouter(controller.line)
      const latch = new ConfigMechanism1.ConfigAddressLatch()

      yield* Bus.registerPio("pci-config", ConfigMechanism1.CONFIG_ADDRESS_PORT, 1, ConfigMechanism1.addressPort(latch))
      yield* Bus.registerPio("pci-config", ConfigMechanism1.CONFIG_DATA_PORT, ConfigMechanism1.CONFIG_DATA_LENGTH, ConfigMechanism1.dataPort(latch, topology))
      yield* Bus.registerMmio("pci-ecam", Ecam.ECAM_BASE, Ecam.ECAM_SIZE, Ecam.make(topology))
      yield* announce({
        id: "pci",
        kind: "pci-host",
        config: { ecamBase: Ecam.ECAM_BASE, ecamSize: Ecam.ECAM_SIZE },
        stateVersion: PCI_BUS_STATE_VERSION,
        stateSchema: PciBusState,
        save: () => ({ configAddress: latch.value }),
        restore: (state) => {
          latch.value = state.configAddress
        }
      })

      const place = (request: AttachRequest) =>
        Effect.suspend((): Effect.Effect<{ mapper: BarMapper; input: { readonly set: (level: boolean) => void } | undefined }, PciAttachError> => {
          const { fn, owner } = request
          const addresses: Array<[number, number]> = []
          for (let i = 0; i < 6; i++) {
            const spec = fn.bar(i)
            if (spec === undefined) continue
            const at = allocator.allocate(spec)
            if (at === undefined) return Effect.fail(new BarSpaceExhausted({ claimant: owner, bar: i, size: spec.size }))
            addresses.push([i, at])
          }
          if (!topology.add(request.address, fn)) {
            return Effect.fail(new PciSlotTaken({ address: formatPciAddress(request.address), claimant: owner }))
          }
          for (const [i, at] of addresses) fn.programBar(i, at)
          const input = fn.interruptPin === 0 ? undefined : intx.connect(intxLine(request.address.slot, fn.interruptPin))
          if (input !== undefined) {
            fn.setInterruptLine(intxLine(request.address.slot, fn.interruptPin))
            fn.onIntx = input.set
            input.set(fn.intxLevel)
          }
          const mapper = new BarMapper(router, owner, request.bars, once)
          fn.onChange = () => mapper.sync(fn.windows())
          mapper.sync(fn.windows())
          return Effect.succeed({ mapper, input })
        })

      const attach: PciBusService["attach"] = (request) =>
        Effect.asVoid(
          Effect.acquireRelease(place(request), ({ mapper, input }) =>
            Effect.sync(() => {
              request.fn.onChange = () => {}
              request.fn.onIntx = () => {}
              mapper.release()
              input?.set(false)
              topology.remove(request.address, request.fn)
            }))
        )

      return { topology, windows, report, attach }
    })
  )
