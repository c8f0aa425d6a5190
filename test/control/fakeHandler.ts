import * as Effect from "effect/Effect"
import type { ControlRequest } from "../../src/control/ControlRequest.js"
import { type ControlResult, done, type ResultFor } from "../../src/control/ControlResult.js"

/** The lead's real handler drives a machine; this one just answers, so the socket machinery can be tested. */
export const statusResult: ResultFor<"Status"> = {
  _tag: "Status",
  name: "vm1",
  state: "running",
  machine: { cpus: 1, memory: 67108864, boot: { kernel: "/k" } },
  devices: [{ id: "com1", kind: "uart" }, { id: "rtc", kind: "rtc" }]
}

export const answer = (request: ControlRequest): ControlResult => {
  switch (request._tag) {
    case "Checkpoint":
    case "Suspend":
      return { _tag: request._tag, path: request.path, bytes: 4096, durationMs: 1.5, details: { pauseMs: 0.5 } }
    case "Status":
      return statusResult
    default:
      return done(request._tag)
  }
}

export const fakeHandler = (request: ControlRequest): Effect.Effect<ControlResult> => Effect.succeed(answer(request))
