import * as Effect from "effect/Effect"
import { connect, type Socket } from "node:net"
import { BenchFailure, describe } from "./Benchmark.js"

/**
 * A QEMU Machine Protocol client on QEMU's `-qmp unix:PATH,server=on,wait=off`
 * socket: one command at a time, each with a deadline, so a bench never
 * hangs on a QEMU that stopped answering. Events are kept, stamped.
 */
export interface Qmp {
  /** The command's `return` value; a QMP `error` reply or no reply within `timeoutMs` fails. */
  readonly execute: (command: string, args?: Readonly<Record<string, unknown>>, timeoutMs?: number) => Effect.Effect<unknown, BenchFailure>
  readonly events: () => ReadonlyArray<{ readonly event: string; readonly at: number }>
}

const COMMAND_TIMEOUT_MS = 10_000

type Message = { readonly return?: unknown; readonly error?: { readonly desc?: string }; readonly event?: string; readonly QMP?: unknown }

const isMessage = (value: unknown): value is Message => typeof value === "object" && value !== null

/** Connects, retrying while QEMU has not yet created the socket, for up to `timeoutMs`. */
const connectWhenReady = (path: string, timeoutMs: number) =>
  Effect.tryPromise({
    try: async () => {
      const deadline = performance.now() + timeoutMs
      for (;;) {
        try {
          return await new Promise<Socket>((resolve, reject) => {
            const socket = connect(path)
            socket.once("connect", () => resolve(socket)).once("error", reject)
          })
        } catch (e) {
          if (performance.now() > deadline) throw e
          await new Promise((r) => setTimeout(r, 10))
        }
      }
    },
    catch: (e) => new BenchFailure({ what: `QMP ${path}`, reason: `cannot connect: ${describe(e)}` })
  })

/** Connects to QEMU's QMP socket, reads its greeting and leaves capabilities negotiation, for the life of the scope. */
export const openQmp = (path: string, timeoutMs = COMMAND_TIMEOUT_MS) =>
  Effect.acquireRelease(connectWhenReady(path, timeoutMs), (socket) => Effect.sync(() => socket.destroy())).pipe(
    Effect.flatMap((socket) =>
      Effect.gen(function*() {
        const events: Array<{ event: string; at: number }> = []
        const waiting: Array<(message: Message) => void> = []
        /** Replies that came with nobody waiting yet (the greeting can beat the first wait). */
        const unclaimed: Array<Message> = []
        let buffered = ""
        let closed: string | undefined
        socket.setEncoding("utf8")
        socket.on("data", (text: string) => {
          const at = performance.now()
          buffered += text
          let end: number
          while ((end = buffered.indexOf("\n")) >= 0) {
            const line = buffered.slice(0, end).trim()
            buffered = buffered.slice(end + 1)
            if (line === "") continue
            let parsed: unknown
            try {
              parsed = JSON.parse(line)
            } catch {
              continue
            }
            if (!isMessage(parsed)) continue
            if (parsed.event !== undefined) events.push({ event: parsed.event, at })
            else {
              const take = waiting.shift()
              if (take === undefined) unclaimed.push(parsed)
              else take(parsed)
            }
          }
        })
        const onGone = (why: string) => {
          closed ??= why
        }
        socket.on("close", () => onGone("QEMU closed the QMP socket"))
        socket.on("error", (e) => onGone(e.message))
        /** The next non-event message (a greeting or a reply). */
        const next = (what: string, timeoutMs: number) =>
          Effect.async<Message, BenchFailure>((resume) => {
            const early = unclaimed.shift()
            if (early !== undefined) return resume(Effect.succeed(early))
            if (closed !== undefined) return resume(Effect.fail(new BenchFailure({ what, reason: closed })))
            const take = (message: Message) => {
              clearTimeout(timer)
              resume(Effect.succeed(message))
            }
            const timer = setTimeout(() => {
              const at = waiting.indexOf(take)
              if (at >= 0) waiting.splice(at, 1)
              resume(Effect.fail(new BenchFailure({ what, reason: `no QMP reply within ${timeoutMs} ms${closed === undefined ? "" : ` (${closed})`}` })))
            }, timeoutMs)
            waiting.push(take)
            return Effect.sync(() => {
              clearTimeout(timer)
              const at = waiting.indexOf(take)
              if (at >= 0) waiting.splice(at, 1)
            })
          })
        const execute = (command: string, args?: Readonly<Record<string, unknown>>, timeout = timeoutMs) =>
          Effect.gen(function*() {
            const what = `QMP ${command}`
            if (closed !== undefined) return yield* new BenchFailure({ what, reason: closed })
            socket.write(`${JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args })}\n`)
            const reply = yield* next(what, timeout)
            if (reply.error !== undefined) return yield* new BenchFailure({ what, reason: reply.error.desc ?? JSON.stringify(reply.error) })
            return reply.return
          })
        yield* next("QMP greeting", timeoutMs)
        yield* execute("qmp_capabilities")
        const qmp: Qmp = { execute, events: () => events }
        return qmp
      })
    )
  )
