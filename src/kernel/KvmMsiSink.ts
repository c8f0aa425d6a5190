import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { MsiSink } from "../servers/pci/MsiSink.js"
import { errnoName } from "./KvmError.js"
import { Vm } from "./Vm.js"

/** KVM_SIGNAL_MSI: struct kvm_msi { u32 address_lo, address_hi, data, flags, devid; u8 pad[12]; } */
const KVM_SIGNAL_MSI = 0x4020aea5

/**
 * MSI/MSI-X messages delivered with KVM_SIGNAL_MSI: the in-kernel LAPICs
 * decode address and data as the hardware would. One struct is reused; the
 * call is synchronous on the machine thread.
 */
export const layer = (report: (message: string) => void = (m) => process.stderr.write(`bhyve: ${m}\n`)) =>
  Layer.effect(
    MsiSink,
    Effect.map(Vm, (vm) => {
      const msi = new Uint8Array(32)
      const view = new DataView(msi.buffer)
      let failed = false
      return {
        signal: (address: bigint, data: number) => {
          view.setUint32(0, Number(address & 0xffff_ffffn), true)
          view.setUint32(4, Number((address >> 32n) & 0xffff_ffffn), true)
          view.setUint32(8, data >>> 0, true)
          const rc = vm.fd.native.ioctlBuffer(vm.fd.fd, KVM_SIGNAL_MSI, msi)
          if (rc < 0 && !failed) {
            failed = true
            report(`KVM_SIGNAL_MSI to 0x${address.toString(16)} failed: ${errnoName(-rc)} (reported once)`)
          }
        }
      }
    })
  )
