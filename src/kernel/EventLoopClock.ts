import type { DeviceClockService } from "../servers/DeviceClock.js"
import type { MachineClockService } from "./MachineClock.js"

/**
 * A DeviceClock on the machine clock whose callbacks run on this thread's
 * event loop (setTimeout). Right for a backend whose vCPUs block in the
 * kernel and give the loop its turns (KVM); the software CPU drives its own
 * clock between runs of guest code instead, far more precisely. While the
 * machine clock stands still (the machine is paused) nothing falls due: a
 * timer that wakes early waits again for the rest.
 */
export const makeEventLoopClock = (clock: MachineClockService): DeviceClockService => ({
  nowNs: clock.nowNs,
  schedule: (atNs, fire) => {
    let handle: ReturnType<typeof setTimeout> | undefined
    const wait = () => {
      const left = atNs - clock.nowNs()
      if (left <= 0) {
        handle = undefined
        fire()
        return
      }
      // At least 1 ms: a stopped clock must not make this spin.
      handle = setTimeout(wait, clock.running() ? left / 1e6 : Math.max(1, left / 1e6))
    }
    handle = setTimeout(wait, Math.max(0, (atNs - clock.nowNs()) / 1e6))
    return () => {
      if (handle !== undefined) clearTimeout(handle)
      handle = undefined
    }
  }
})
