import * as Effect from "effect/Effect"
import { join } from "node:path"
import { spawnLive } from "./LiveProcess.js"
import { MEMORY_MIB, MEMWRITE, MEMWRITE_FATAL, memwriteCmdline } from "./MemwriteGuest.js"
import { openQmp } from "./Qmp.js"
import { type QemuAccel, type QemuGuestSpec, qemuGuestArgs } from "./QemuMigration.js"
import { QEMU } from "./QemuTcg.js"

/** memwrite.elf under QEMU (microvm, COM1 on stdout, QMP on socket `qmp-<tag>` in `dir`). */
export const qemuMemwriteSpec = (accel: QemuAccel, tscKhz: number, dir: string, tag: string, incomingFrom?: string): QemuGuestSpec => ({
  kernel: MEMWRITE,
  cmdline: memwriteCmdline(tscKhz),
  memoryMib: MEMORY_MIB,
  accel,
  qmpSocket: join(dir, `qmp-${tag}`),
  incomingFrom
})

/** Starts it for the life of the scope, with its QMP connection. */
export const spawnQemuMemwrite = (spec: QemuGuestSpec) =>
  Effect.gen(function*() {
    const guest = yield* spawnLive(QEMU, qemuGuestArgs(spec), MEMWRITE_FATAL)
    const qmp = yield* openQmp(spec.qmpSocket)
    return { guest, qmp }
  })
