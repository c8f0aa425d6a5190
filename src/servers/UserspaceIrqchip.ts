import * as Layer from "effect/Layer"
import * as ApicServer from "./apic/ApicServer.js"
import * as PicServer from "./pic/PicServer.js"
import * as PitServer from "./pit/PitServer.js"

/**
 * The PC's interrupt controllers and timer as device servers, for a CPU
 * without an in-kernel irqchip (the software CPU): the 8259 pair, the
 * IOAPIC and one LAPIC per vCPU (which provide the machine's interrupt
 * lines and MSI delivery, and attach themselves to the CPU's interrupt
 * port), and the 8254 PIT on IRQ 0. QEMU's TCG machine has the same set.
 */
export const layer = (cpus: number) => {
  const apic = ApicServer.layer(cpus).pipe(Layer.provideMerge(PicServer.layer))
  return PitServer.layer.pipe(Layer.provideMerge(apic))
}
