import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Bus from "../../bus/Bus.js"
import type { BadRange, BusConflict } from "../../bus/BusErrors.js"
import { CpuInterrupts } from "../../kernel/CpuInterrupts.js"
import { CurrentVcpu } from "../CurrentVcpu.js"
import { DeviceClock } from "../DeviceClock.js"
import { announce, type DeviceServers } from "../DeviceServer.js"
import { InterruptController } from "../InterruptController.js"
import { MsiSink } from "../pci/MsiSink.js"
import { Pic } from "../pic/Pic.js"
import { ApicBus } from "./ApicBus.js"
import * as ApicCpuInterrupts from "./ApicCpuInterrupts.js"
import * as ApicLines from "./ApicLines.js"
import * as ApicMsiSink from "./ApicMsiSink.js"
import * as IoapicBusAdapter from "./IoapicBusAdapter.js"
import { IoapicDevice } from "./IoapicDevice.js"
import { IOAPIC_BASE, IOAPIC_MMIO_SIZE, IOAPIC_PINS } from "./IoapicRegisters.js"
import { IOAPIC_STATE_VERSION, IoapicState } from "./IoapicState.js"
import * as LapicBusAdapter from "./LapicBusAdapter.js"
import { LAPIC_BASE, LAPIC_MMIO_SIZE } from "./LapicRegisters.js"
import { LAPIC_STATE_VERSION, XapicSetState } from "./LapicState.js"

/**
 * The userspace APIC side of the PC, for a CPU without an in-kernel
 * irqchip: the IOAPIC at 0xFEC00000, one xAPIC per vCPU behind the one
 * page at 0xFEE00000, the machine's interrupt lines (to the PIC and the
 * IOAPIC), MSI delivery, and the CPU's interrupt port, attached to the
 * CpuInterrupts slot while the layer lives. QEMU's TCG machine has the
 * same pieces (hw/intc/ioapic.c, apic.c).
 */
export const layer = (
  cpus: number
): Layer.Layer<
  InterruptController | MsiSink,
  BusConflict | BadRange,
  Bus.Bus | DeviceServers | DeviceClock | CurrentVcpu | CpuInterrupts | Pic
> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const clock = yield* DeviceClock
      const currentVcpu = yield* CurrentVcpu
      const slot = yield* CpuInterrupts
      const pic = yield* Pic

      const bus = new ApicBus(cpus, clock)
      const ioapic = new IoapicDevice((logical, destination, mode, vector, level) =>
        bus.fromIoapic(logical, destination, mode, vector, level)
      )
      bus.onLevelEoi = (vector) => ioapic.eoi(vector)
      yield* Effect.addFinalizer(() => Effect.sync(() => bus.lapics.forEach((lapic) => lapic.dispose())))

      yield* Bus.registerMmio("ioapic", IOAPIC_BASE, IOAPIC_MMIO_SIZE, IoapicBusAdapter.make(ioapic))
      yield* Bus.registerMmio("lapic", LAPIC_BASE, LAPIC_MMIO_SIZE, LapicBusAdapter.make(bus.lapics, currentVcpu.current))
      yield* Effect.acquireRelease(slot.attach(ApicCpuInterrupts.make(bus.lapics, pic)), () => slot.attach(ApicCpuInterrupts.none))

      yield* announce({
        id: "ioapic",
        kind: "ioapic",
        config: { base: IOAPIC_BASE, pins: IOAPIC_PINS },
        stateVersion: IOAPIC_STATE_VERSION,
        stateSchema: IoapicState,
        save: () => ioapic.save(),
        restore: (state) => ioapic.restore(state)
      })
      yield* announce({
        id: "lapic",
        kind: "xapic-set",
        config: { base: LAPIC_BASE, cpus },
        stateVersion: LAPIC_STATE_VERSION,
        stateSchema: XapicSetState(cpus),
        save: () => bus.lapics.map((lapic) => lapic.save()),
        restore: (states) => states.forEach((state, i) => bus.lapics[i].restore(state))
      })

      return Context.make(InterruptController, ApicLines.make(pic, ioapic)).pipe(
        Context.add(MsiSink, ApicMsiSink.make(bus))
      )
    })
  )
