import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Bus from "../../bus/Bus.js"
import type { BadRange, BusConflict } from "../../bus/BusErrors.js"
import { announce, type DeviceServers } from "../DeviceServer.js"
import { Pic } from "./Pic.js"
import * as PicBusAdapter from "./PicBusAdapter.js"
import { PicDevice } from "./PicDevice.js"
import { PIC_STATE_VERSION, PicState } from "./PicState.js"

/** Where a PC has its 8259As and the chipset its edge/level control register. */
export const MASTER_BASE = 0x20
export const SLAVE_BASE = 0xa0
export const ELCR_BASE = 0x4d0

/**
 * The userspace 8259A pair, for a CPU without an in-kernel irqchip: the
 * three port ranges on the bus, one device server "pic" for both chips and
 * the ELCR, and the `Pic` service through which the interrupt router drives
 * ISA lines and the vCPU takes interrupts (polling INTR, then INTA).
 */
export const layer: Layer.Layer<Pic, BusConflict | BadRange, Bus.Bus | DeviceServers> = Layer.scoped(
  Pic,
  Effect.gen(function* () {
    const device = new PicDevice()
    yield* Bus.registerPio("pic-master", MASTER_BASE, PicBusAdapter.PORT_COUNT, PicBusAdapter.chip(device, "master"))
    yield* Bus.registerPio("pic-slave", SLAVE_BASE, PicBusAdapter.PORT_COUNT, PicBusAdapter.chip(device, "slave"))
    yield* Bus.registerPio("elcr", ELCR_BASE, PicBusAdapter.PORT_COUNT, PicBusAdapter.elcr(device))
    yield* announce({
      id: "pic",
      kind: "i8259-pair",
      config: { master: MASTER_BASE, slave: SLAVE_BASE, elcr: ELCR_BASE },
      stateVersion: PIC_STATE_VERSION,
      stateSchema: PicState,
      save: () => device.save(),
      restore: (state) => device.restore(state)
    })
    return {
      setIrq: (irq, level) => device.setIrq(irq, level),
      hasInterrupt: () => device.hasInterrupt(),
      acknowledge: () => device.acknowledge()
    }
  })
)
