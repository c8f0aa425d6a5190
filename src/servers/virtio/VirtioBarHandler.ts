import type { MmioHandler } from "../../bus/DeviceHandlers.js"
import * as CommonConfig from "./CommonConfig.js"
import { COMMON_OFFSET, DEVICE_OFFSET, ISR_OFFSET, NOTIFY_MULTIPLIER, NOTIFY_OFFSET, PAGE } from "./VirtioPciLayout.js"
import type { VirtioTransport } from "./VirtioTransport.js"
import { low32 } from "../pci/AccessValue.js"

/**
 * The virtio BAR: routes each access to the page it falls in. The notify
 * page identifies the queue by the doorbell's address (the value written is
 * the same index unless NOTIFICATION_DATA, which we do not offer).
 */
export const make = (t: VirtioTransport): MmioHandler => ({
  read: (offset, size) => {
    const page = offset - (offset % PAGE)
    const at = offset % PAGE
    switch (page) {
      case COMMON_OFFSET:
        return CommonConfig.read(t, at, size)
      case ISR_OFFSET:
        if (at === 0) return t.readIsr()
        break
      case DEVICE_OFFSET:
        return t.readDeviceConfig(at, size)
    }
    return size === 8 ? 0n : 0
  },
  write: (offset, size, value) => {
    const page = offset - (offset % PAGE)
    const at = offset % PAGE
    switch (page) {
      case COMMON_OFFSET:
        return CommonConfig.write(t, at, size, value)
      case DEVICE_OFFSET:
        return t.writeDeviceConfig(at, size, low32(value))
      case NOTIFY_OFFSET:
        if (at % NOTIFY_MULTIPLIER === 0) t.notify(at / NOTIFY_MULTIPLIER)
        return
    }
  }
})
