import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { MsiRoute } from "../../servers/pci/MsiSink.js"
import { MsiSink } from "../../servers/pci/MsiSink.js"
import { errnoName } from "../KvmError.js"
import { KVM } from "./KvmIoctls.js"
import { KvmSystem } from "./KvmSystem.js"
import { Vm } from "./Vm.js"

/** struct kvm_irq_routing_entry: gsi, type, flags, pad, then a 32-byte union. */
const ROUTE_ENTRY_SIZE = 48
const ROUTING_IRQCHIP = 1
const ROUTING_MSI = 2
const IRQCHIP_PIC_MASTER = 0
const IRQCHIP_PIC_SLAVE = 1
const IRQCHIP_IOAPIC = 2
const IOAPIC_PINS = 24
const PIC_LINES = 16
/** MSI routes take the GSIs above the IOAPIC's pins. */
export const FIRST_MSI_GSI = IOAPIC_PINS
/** Vectors with a route of their own at most (KVM allows 4096 routes); later ones go through KVM_SIGNAL_MSI. */
export const MAX_MSI_ROUTES = 1024
const IRQFD_DEASSIGN = 1

interface Route {
  readonly gsi: number
  readonly fd: number
  address: bigint
  data: number
}

const writeEntry = (view: DataView, index: number, gsi: number, type: number, a: number, b: number, c = 0) => {
  const o = 8 + index * ROUTE_ENTRY_SIZE
  view.setUint32(o, gsi, true)
  view.setUint32(o + 4, type, true)
  view.setUint32(o + 16, a, true)
  view.setUint32(o + 20, b, true)
  view.setUint32(o + 24, c, true)
}

/** The 8254 PIT's output: ISA IRQ 0, which KVM's in-kernel PIT raises as GSI 0. */
const PIT_GSI = 0
/** Where a PC wires it on the IOAPIC, and what the MADT's override and the MP table say. */
export const PIT_IOAPIC_PIN = 2
/** The master PIC's cascade input: no device behind it. */
const CASCADE = 2

/** The legacy routes: [gsi, irqchip, pin]. */
export const legacyRoutes = (): ReadonlyArray<readonly [number, number, number]> => {
  const routes: Array<readonly [number, number, number]> = []
  for (let gsi = 0; gsi < PIC_LINES; gsi++) {
    if (gsi !== CASCADE) routes.push([gsi, gsi < 8 ? IRQCHIP_PIC_MASTER : IRQCHIP_PIC_SLAVE, gsi % 8])
  }
  routes.push([PIT_GSI, IRQCHIP_IOAPIC, PIT_IOAPIC_PIN])
  for (let gsi = 1; gsi < IOAPIC_PINS; gsi++) if (gsi !== CASCADE) routes.push([gsi, IRQCHIP_IOAPIC, gsi])
  return routes
}

/**
 * struct kvm_irq_routing for KVM_SET_GSI_ROUTING, which replaces the whole
 * table. The legacy part is QEMU's (kvm_pc_setup_irq_routing), not KVM's
 * default: GSI 0-15 to the PICs (but the cascade), and to the IOAPIC with
 * ISA IRQ 0 on pin 2, as the firmware tables tell the guest (bhyve's PIT
 * also pulses IOAPIC pin 2). Then one MSI route per vector.
 */
export const encodeGsiRouting = (routes: ReadonlyArray<{ readonly gsi: number; readonly address: bigint; readonly data: number }>): Uint8Array => {
  const legacy = legacyRoutes()
  const count = legacy.length + routes.length
  const bytes = new Uint8Array(8 + count * ROUTE_ENTRY_SIZE)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, count, true)
  let i = 0
  for (const [gsi, chip, pin] of legacy) writeEntry(view, i++, gsi, ROUTING_IRQCHIP, chip, pin)
  for (const r of routes) {
    writeEntry(view, i++, r.gsi, ROUTING_MSI, Number(r.address & 0xffff_ffffn), Number((r.address >> 32n) & 0xffff_ffffn), r.data >>> 0)
  }
  return bytes
}

const irqfd = (fd: number, gsi: number, flags: number): Uint8Array => {
  const bytes = new Uint8Array(32)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, fd, true)
  view.setUint32(4, gsi, true)
  view.setUint32(8, flags, true)
  return bytes
}

/**
 * The VM's GSI routing: the legacy routes from the start, then MSI/MSI-X
 * delivery through an MSI route and an irqfd per vector, as
 * Firecracker and Cloud Hypervisor do it: the vector's address/data become
 * an MSI route of the in-kernel irqchip, and firing the vector is one
 * eventfd write (which any host thread may do). A route is made the first
 * time its vector fires and rewritten when the guest has reprogrammed the
 * entry since. If KVM refuses routing or an irqfd, or the routes run out,
 * that vector falls back to KVM_SIGNAL_MSI (reported once).
 */
export const layer = (report: (message: string) => void = (m) => process.stderr.write(`bhyve: ${m}\n`)) =>
  Layer.scoped(
    MsiSink,
    Effect.gen(function*() {
      const vm = yield* Vm
      const { native } = yield* KvmSystem
      const routes: Array<Route> = []
      const reported = new Set<string>()
      const reportOnce = (key: string, message: string) => {
        if (reported.has(key)) return
        reported.add(key)
        report(`${message} (reported once)`)
      }
      const ioctl = (request: number, bytes: Uint8Array) => native.ioctlBuffer(vm.fd.fd, request, bytes)

      const msi = new Uint8Array(32)
      const msiView = new DataView(msi.buffer)
      const signalMsi = (address: bigint, data: number) => {
        msiView.setUint32(0, Number(address & 0xffff_ffffn), true)
        msiView.setUint32(4, Number((address >> 32n) & 0xffff_ffffn), true)
        msiView.setUint32(8, data >>> 0, true)
        const rc = ioctl(KVM.SIGNAL_MSI, msi)
        if (rc < 0) reportOnce("signal", `KVM_SIGNAL_MSI to 0x${address.toString(16)} failed: ${errnoName(-rc)}`)
      }

      const applyRouting = (): number => ioctl(KVM.SET_GSI_ROUTING, encodeGsiRouting(routes))
      // The legacy routes the firmware tables describe, from the start (KVM's default puts IRQ 0 on IOAPIC pin 0).
      const initial = applyRouting()
      if (initial < 0) report(`KVM_SET_GSI_ROUTING failed: ${errnoName(-initial)}; the PIT stays on IOAPIC pin 0, not pin 2 as the MADT says`)

      /** A new route for (address, data), or undefined when this vector must use KVM_SIGNAL_MSI. */
      const allocate = (address: bigint, data: number): Route | undefined => {
        if (routes.length >= MAX_MSI_ROUTES) {
          reportOnce("full", `${MAX_MSI_ROUTES} MSI routes in use: further vectors use KVM_SIGNAL_MSI`)
          return undefined
        }
        const fd = native.eventFd()
        if (fd < 0) {
          reportOnce("eventfd", `eventfd for an MSI route failed: ${errnoName(-fd)}; using KVM_SIGNAL_MSI`)
          return undefined
        }
        const route: Route = { gsi: FIRST_MSI_GSI + routes.length, fd, address, data }
        routes.push(route)
        let rc = applyRouting()
        if (rc >= 0) {
          rc = ioctl(KVM.IRQFD, irqfd(fd, route.gsi, 0))
          if (rc < 0) reportOnce("irqfd", `KVM_IRQFD for GSI ${route.gsi} failed: ${errnoName(-rc)}; using KVM_SIGNAL_MSI`)
        } else {
          reportOnce("routing", `KVM_SET_GSI_ROUTING failed: ${errnoName(-rc)}; using KVM_SIGNAL_MSI`)
        }
        if (rc >= 0) return route
        routes.pop()
        native.close(fd)
        applyRouting()
        return undefined
      }

      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          for (const r of routes) {
            ioctl(KVM.IRQFD, irqfd(r.fd, r.gsi, IRQFD_DEASSIGN))
            native.close(r.fd)
          }
          routes.length = 0
        })
      )

      return {
        route: (): MsiRoute => {
          let route: Route | "signal" | undefined
          return {
            send: (address, data) => {
              route ??= allocate(address, data) ?? "signal"
              if (route === "signal") return signalMsi(address, data)
              if (route.address !== address || route.data !== data) {
                route.address = address
                route.data = data
                const rc = applyRouting()
                if (rc < 0) reportOnce("routing", `KVM_SET_GSI_ROUTING failed: ${errnoName(-rc)}; MSI to 0x${address.toString(16)} not delivered`)
              }
              const rc = native.eventFdSignal(route.fd)
              if (rc < 0) reportOnce("signal", `irqfd signal for GSI ${route.gsi} failed: ${errnoName(-rc)}`)
            }
          }
        }
      }
    })
  )
