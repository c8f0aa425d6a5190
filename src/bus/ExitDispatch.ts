import type { MmioExit, PioExit } from "../kernel/VcpuExit.js"
import type { BusRouter } from "./Bus.js"

/**
 * Turns a PIO exit into bus accesses and writes the replies back into
 * struct kvm_run, where the next KVM_RUN picks them up. String I/O
 * (rep ins/outs) arrives as `count` accesses of `size` bytes.
 */
export const dispatchPio = (bus: BusRouter, exit: PioExit): void => {
  const { port, size, count } = exit
  if (exit.direction === "out") {
    for (let i = 0; i < count; i++) bus.pioWrite(port, size, exit.value(i))
  } else {
    for (let i = 0; i < count; i++) exit.reply(i, bus.pioRead(port, size))
  }
}

export const dispatchMmio = (bus: BusRouter, exit: MmioExit): void => {
  if (exit.isWrite) bus.mmioWrite(exit.address, exit.size, exit.value())
  else exit.reply(bus.mmioRead(exit.address, exit.size))
}
