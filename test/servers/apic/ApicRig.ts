import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Bus from "../../../src/bus/Bus.js"
import { CpuInterrupts, type CpuInterruptsSlot, makeSlot } from "../../../src/kernel/CpuInterrupts.js"
import * as CurrentVcpu from "../../../src/servers/CurrentVcpu.js"
import * as DeviceClock from "../../../src/servers/DeviceClock.js"
import { type DeviceServer, DeviceServers, layerDeviceServers } from "../../../src/servers/DeviceServer.js"
import { InterruptController } from "../../../src/servers/InterruptController.js"
import { MsiSink, type MsiSinkService } from "../../../src/servers/pci/MsiSink.js"
import { Pic, type PicService } from "../../../src/servers/pic/Pic.js"
import * as ApicServer from "../../../src/servers/apic/ApicServer.js"
import { IOAPIC_BASE, IOREGSEL, IOWIN } from "../../../src/servers/apic/IoapicRegisters.js"
import { LAPIC_BASE, REG_SVR } from "../../../src/servers/apic/LapicRegisters.js"

/**
 * A stand-in for the 8259 pair: it records each IRQ's level and requests
 * INTR while an unmasked one is high; INTA answers 0x20 + the lowest such
 * IRQ (an ICW2 of 0x20; no edge detection, no in-service state). Every
 * IRQ starts masked, as an OS using the IOAPIC leaves the PIC.
 */
export const makeFakePic = () => {
  const levels = new Array<boolean>(16).fill(false)
  const history: Array<{ readonly irq: number; readonly level: boolean }> = []
  const raised = () => levels.findIndex((l, irq) => l && (pic.imr & (1 << irq)) === 0)
  const pic: PicService & { readonly levels: Array<boolean>; readonly history: typeof history; acknowledged: number; imr: number } = {
    levels,
    history,
    acknowledged: 0,
    imr: 0xffff,
    setIrq: (irq, level) => {
      levels[irq] = level
      history.push({ irq, level })
    },
    hasInterrupt: () => raised() >= 0,
    acknowledge: () => {
      pic.acknowledged++
      const irq = raised()
      return irq >= 0 ? 0x20 + irq : 0x27
    }
  }
  return pic
}
export type FakePic = ReturnType<typeof makeFakePic>

export interface Rig {
  readonly bus: Bus.BusRouter
  readonly cpu: CpuInterruptsSlot
  readonly lines: InterruptController["Type"]
  readonly msi: MsiSinkService
  readonly servers: ReadonlyArray<DeviceServer>
  readonly pic: FakePic
  readonly vcpu: ReturnType<typeof CurrentVcpu.makeSettableVcpu>
  /** The LAPIC register `reg` of vCPU `cpu`, through the bus as that vCPU. */
  readonly lapicRead: (cpu: number, reg: number) => number
  readonly lapicWrite: (cpu: number, reg: number, value: number) => void
  /** An IOAPIC register through IOREGSEL/IOWIN. */
  readonly ioapicRead: (index: number) => number
  readonly ioapicWrite: (index: number, value: number) => void
  /** SVR software-enable with spurious vector 0xff, as an OS does first. */
  readonly enable: (cpu: number) => void
  /** Pin `pin`'s redirection entry: low dword, destination in the high dword. */
  readonly route: (pin: number, low: number, destination?: number) => void
  readonly server: (id: string) => DeviceServer
}

/** The APIC layer of `cpus` vCPUs on a bus, with a fake PIC, a given clock, a settable current vCPU and a fresh CpuInterrupts slot. */
export const rigLayer = (cpus: number, clock: DeviceClock.DeviceClockService, pic: FakePic = makeFakePic()) => {
  const vcpu = CurrentVcpu.makeSettableVcpu(cpus)
  const slot = makeSlot()
  const base = Layer.mergeAll(
    Bus.layer({ report: () => {} }),
    layerDeviceServers,
    DeviceClock.layer(clock),
    CurrentVcpu.layer(vcpu),
    Layer.succeed(CpuInterrupts, slot),
    Layer.succeed(Pic, pic)
  )
  return { layer: ApicServer.layer(cpus).pipe(Layer.provideMerge(base)), vcpu, slot, pic }
}

/** Builds the rig in a scope and runs `body` in it (the scope closes after: timers cancelled, slot detached). */
export const withRig = <A>(cpus: number, clock: DeviceClock.DeviceClockService, body: (rig: Rig) => A, pic?: FakePic): A => {
  const { layer, vcpu, slot, pic: fake } = rigLayer(cpus, clock, pic)
  return Effect.runSync(
    Effect.scoped(
      Effect.gen(function* () {
        const context = yield* Layer.build(layer)
        const bus = Context.get(context, Bus.Bus)
        const servers = [...Context.get(context, DeviceServers)]
        const lapicRead = (cpu: number, reg: number) => {
          vcpu.set(cpu)
          return bus.mmioRead(LAPIC_BASE + reg, 4) as number
        }
        const lapicWrite = (cpu: number, reg: number, value: number) => {
          vcpu.set(cpu)
          bus.mmioWrite(LAPIC_BASE + reg, 4, value)
        }
        const ioapicRead = (index: number) => {
          bus.mmioWrite(IOAPIC_BASE + IOREGSEL, 4, index)
          return bus.mmioRead(IOAPIC_BASE + IOWIN, 4) as number
        }
        const ioapicWrite = (index: number, value: number) => {
          bus.mmioWrite(IOAPIC_BASE + IOREGSEL, 4, index)
          bus.mmioWrite(IOAPIC_BASE + IOWIN, 4, value)
        }
        return body({
          bus,
          cpu: slot,
          lines: Context.get(context, InterruptController),
          msi: Context.get(context, MsiSink),
          servers,
          pic: fake,
          vcpu,
          lapicRead,
          lapicWrite,
          ioapicRead,
          ioapicWrite,
          enable: (cpu) => lapicWrite(cpu, REG_SVR, 0x1ff),
          route: (pin, low, destination = 0) => {
            ioapicWrite(0x11 + 2 * pin, destination << 24)
            ioapicWrite(0x10 + 2 * pin, low)
          },
          server: (id) => {
            const found = servers.find((s) => s.id === id)
            if (found === undefined) throw new Error(`no device server ${id}`)
            return found
          }
        })
      })
    )
  )
}
