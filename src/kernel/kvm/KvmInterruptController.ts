import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { InterruptController } from "../../servers/InterruptController.js"
import type { InterruptLine } from "../../servers/InterruptLine.js"
import { errnoName } from "../KvmError.js"
import { Vm } from "./Vm.js"

/**
 * Device interrupt lines backed by KVM_IRQ_LINE on the in-kernel PIC and
 * IOAPIC. A line remembers its level and only calls into the kernel on a
 * change, since devices re-assert their level after every register access.
 */
export const layer = (report: (message: string) => void = (m) => process.stderr.write(`bhyve: ${m}\n`)) =>
  Layer.effect(
    InterruptController,
    Effect.map(Vm, (vm) => {
      const lines = new Map<number, InterruptLine>()
      const make = (n: number): InterruptLine => {
        let current = false
        let failed = false
        return {
          line: n,
          set: (level) => {
            if (level === current) return
            current = level
            const rc = vm.irqLineSync(n, level)
            if (rc < 0 && !failed) {
              failed = true
              report(`KVM_IRQ_LINE for line ${n} failed: ${errnoName(-rc)} (reported once)`)
            }
          }
        }
      }
      return {
        line: (n: number) => {
          let line = lines.get(n)
          if (line === undefined) {
            line = make(n)
            lines.set(n, line)
          }
          return line
        }
      }
    })
  )
