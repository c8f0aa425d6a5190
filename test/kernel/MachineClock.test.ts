import { describe, expect, it } from "@effect/vitest"
import { makeMachineClock } from "../../src/kernel/MachineClock.js"

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe("the machine clock", () => {
  it("stands still while stopped and runs on from the same value", async () => {
    const clock = makeMachineClock()
    await sleep(5)
    clock.stop()
    const stoppedAt = clock.nowNs()
    await sleep(50)
    expect(clock.nowNs()).toBe(stoppedAt)
    clock.start()
    const resumed = clock.nowNs()
    expect(resumed).toBeGreaterThanOrEqual(stoppedAt)
    // The 50 ms it stood still are not counted.
    expect(resumed - stoppedAt).toBeLessThan(50e6)
    await sleep(20)
    expect(clock.nowNs() - resumed).toBeGreaterThanOrEqual(19e6)
  })

  it("reads a set value from then on, stopped or running (a restore)", async () => {
    const clock = makeMachineClock()
    clock.stop()
    clock.set(7_000_000_123)
    await sleep(10)
    expect(clock.nowNs()).toBe(7_000_000_123)
    clock.start()
    await sleep(10)
    expect(clock.nowNs()).toBeGreaterThanOrEqual(7_000_000_123 + 9e6)
    clock.set(5)
    expect(clock.nowNs()).toBeLessThan(5 + 50e6)
  })

  it("tells its follower host CLOCK_MONOTONIC less guest time while running, and the guest time while stopped", () => {
    const heard: Array<{ running: boolean; value: bigint }> = []
    const clock = makeMachineClock(1_000_000)
    clock.follow((running, value) => heard.push({ running, value }))
    // What the software CPU's addon computes from the same host clock.
    const followerNow = () => Number(process.hrtime.bigint() - heard[heard.length - 1].value)
    expect(heard[0].running).toBe(true)
    const before = clock.nowNs()
    const theirs = followerNow()
    const after = clock.nowNs()
    expect(theirs).toBeGreaterThanOrEqual(before)
    expect(theirs).toBeLessThanOrEqual(after)
    clock.stop()
    expect(heard[1]).toEqual({ running: false, value: BigInt(clock.nowNs()) })
    clock.set(42)
    expect(heard[2]).toEqual({ running: false, value: 42n })
  })
})
