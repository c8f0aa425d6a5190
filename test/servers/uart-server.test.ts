import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Bus from "../../src/bus/Bus.js"
import { DeviceServers, layerDeviceServers } from "../../src/servers/DeviceServer.js"
import { layerRecording, makeRecordingController } from "../../src/servers/InterruptController.js"
import { makeMemory } from "../../src/servers/serial-backend/MemoryBackend.js"
import * as R from "../../src/servers/uart/UartRegisters.js"
import * as UartServer from "../../src/servers/uart/UartServer.js"

/** A machine with just one UART on a memory backend, plus handles on its line and backend. */
const setup = (id: "com1" | "com2" = "com1") => {
  const controller = makeRecordingController()
  const backend = makeMemory()
  const layer = UartServer.layer({ id, backend }).pipe(
    Layer.provideMerge(Layer.mergeAll(Bus.layer({ report: () => {} }), layerDeviceServers, layerRecording(controller)))
  )
  const irq = UartServer.PORTS[id].irq
  return { layer, backend, level: () => controller.lines.get(irq)?.level ?? false, controller }
}

const COM1 = 0x3f8

describe("UART server", () => {
  it.effect("a guest byte written to THR through the bus reaches the backend", () => {
    const { layer, backend } = setup()
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      bus.pioWrite(COM1, 1, 0x41)
      bus.pioWrite(COM1, 1, 0x0a)
      expect(backend.outputText()).toBe("A\n")
    }).pipe(Effect.provide(layer))
  })

  it.effect("host input raises IRQ 4 when receive interrupts are enabled, and reading it lowers the line", () => {
    const { layer, backend, level } = setup()
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      bus.pioWrite(COM1 + R.REG_IER, 1, R.IER_ERBFI)
      expect(level()).toBe(false)
      backend.push("x")
      expect(level()).toBe(true)
      expect(bus.pioRead(COM1, 1)).toBe(0x78)
      expect(level()).toBe(false)
    }).pipe(Effect.provide(layer))
  })

  it.effect("the THR-empty interrupt drives the line until the guest reads IIR", () => {
    const { layer, level } = setup()
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      bus.pioWrite(COM1 + R.REG_IER, 1, R.IER_ETBEI)
      expect(level()).toBe(true)
      expect(bus.pioRead(COM1 + R.REG_IIR, 1) & 0x0f).toBe(R.IIR_THRE)
      expect(level()).toBe(false)
    }).pipe(Effect.provide(layer))
  })

  it.effect("input beyond the FIFO waits and is delivered as the guest drains RBR, none lost", () => {
    const { layer, backend } = setup()
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      bus.pioWrite(COM1 + R.REG_IIR, 1, 0x01) // FIFOs on: 16 bytes
      const text = "the quick brown fox jumps over the lazy dog"
      backend.push(text)
      let received = ""
      while ((bus.pioRead(COM1 + R.REG_LSR, 1) & R.LSR_DR) !== 0) received += String.fromCharCode(bus.pioRead(COM1, 1))
      expect(received).toBe(text)
    }).pipe(Effect.provide(layer))
  })

  it.effect("held-back input never causes an overrun", () => {
    const { layer, backend } = setup()
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      backend.push(new Uint8Array(100).fill(0x61))
      expect(bus.pioRead(COM1 + R.REG_LSR, 1) & R.LSR_OE).toBe(0)
    }).pipe(Effect.provide(layer))
  })

  it.effect("announces itself as a device server whose state round-trips", () => {
    const { layer } = setup()
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      const servers = yield* DeviceServers
      const com1 = servers.find((s) => s.id === "com1")
      expect(com1?.kind).toBe("uart16550")
      expect(com1?.stateVersion).toBe(1)
      bus.pioWrite(COM1 + R.REG_SCR, 1, 0x5a)
      const saved = com1?.save()
      bus.pioWrite(COM1 + R.REG_SCR, 1, 0x00)
      com1?.restore(saved)
      expect(bus.pioRead(COM1 + R.REG_SCR, 1)).toBe(0x5a)
    }).pipe(Effect.provide(layer))
  })

  it.effect("COM2 sits at 0x2f8 on IRQ 3", () => {
    const { layer, backend, controller } = setup("com2")
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      bus.pioWrite(0x2f8 + R.REG_IER, 1, R.IER_ETBEI)
      bus.pioWrite(0x2f8, 1, 0x42)
      expect(backend.outputText()).toBe("B")
      expect(controller.lines.get(3)?.level).toBe(true)
    }).pipe(Effect.provide(layer))
  })

  it.effect("releasing the layer frees the ports and stops listening to the backend", () => {
    const { layer, backend } = setup()
    return Effect.gen(function* () {
      const router = yield* Effect.scoped(
        Effect.gen(function* () {
          const bus = yield* Bus.Bus
          return bus
        }).pipe(Effect.provide(layer))
      )
      expect(router.pio.find(COM1)).toBeUndefined()
      backend.push("late")
    })
  })
})
