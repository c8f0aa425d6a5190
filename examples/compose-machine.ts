import { Console, Effect } from "effect"
import { describeExit, Machine, Pm, SerialBackend, Uart } from "bhyve-ts"

// One vCPU, 64 MiB, a PVH kernel, COM1 on this terminal and ACPI power-off.
const program = Effect.scoped(
  Effect.gen(function*() {
    const terminal = yield* SerialBackend.stdio()
    const exit = yield* Machine.run({
      cpus: 1,
      memoryBytes: 64 * 1024 * 1024,
      boot: { kernel: "test/guests/build/hello.elf", cmdline: "composed in code" },
      devices: [Uart.layer({ id: "com1", backend: terminal }), Pm.layer()]
    })
    yield* Console.log(describeExit(exit))
  })
)

Effect.runPromise(program).catch((error) => {
  console.error(String(error))
  process.exit(4)
})
