import type { DeviceClockService } from "../servers/DeviceClock.js"

const nowNs = () => Number(process.hrtime.bigint())

/**
 * A DeviceClock whose callbacks run on this thread's event loop
 * (setTimeout). Right for a backend whose vCPUs block in the kernel and
 * give the loop its turns (KVM); the software CPU drives its own clock
 * between runs of guest code instead, far more precisely.
 */
export const eventLoopClock: DeviceClockService = {
  nowNs,
  schedule: (atNs, fire) => {
    const handle = setTimeout(fire, Math.max(0, (atNs - nowNs()) / 1e6))
    return () => clearTimeout(handle)
  }
}
