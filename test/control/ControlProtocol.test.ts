import { FastCheck as fc } from "effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "@effect/vitest"
import { BadRequest, Busy, RequestFailed } from "../../src/control/ControlFailure.js"
import {
  checkResult,
  decodeReplyLine,
  decodeRequestLine,
  encodeReplyLine,
  encodeRequestLine,
  PROTOCOL_VERSION
} from "../../src/control/ControlProtocol.js"
import type { ControlRequest } from "../../src/control/ControlRequest.js"
import { type ControlResult, done } from "../../src/control/ControlResult.js"

const requests: ReadonlyArray<ControlRequest> = [
  { _tag: "Checkpoint", path: "/var/tmp/vm1.ckp" },
  { _tag: "Suspend", path: "/snap/x y ü" },
  { _tag: "Destroy" },
  { _tag: "Pause" },
  { _tag: "Resume" },
  { _tag: "Status" }
]

const results: ReadonlyArray<ControlResult> = [
  { _tag: "Checkpoint", path: "/s", bytes: 4096, durationMs: 12.5, details: { pauseMs: 3, devices: { uart: 12 } } },
  { _tag: "Suspend", path: "/s", bytes: 0, durationMs: 0, details: {} },
  { _tag: "Status", name: "vm1", state: "paused", machine: { cpus: 2, memory: 67108864, nested: [1, "a", null] }, devices: [{ id: "com1", kind: "uart" }] },
  done("Destroy"),
  done("Pause"),
  done("Resume")
]

const stripNewline = (line: string) => {
  expect(line.endsWith("\n")).toBe(true)
  expect(line.slice(0, -1)).not.toContain("\n")
  return line.slice(0, -1)
}

const badReason = (line: string): string => {
  const decoded = decodeRequestLine(line)
  if (Either.isRight(decoded)) throw new Error(`expected a BadRequest for ${line}`)
  expect(decoded.left).toBeInstanceOf(BadRequest)
  return decoded.left.reason
}

describe("control requests", () => {
  it("round-trip every request through one JSON line carrying the version", () => {
    for (const request of requests) {
      const line = stripNewline(Either.getOrThrow(encodeRequestLine(request)))
      expect(JSON.parse(line)).toMatchObject({ v: PROTOCOL_VERSION, request: { _tag: request._tag } })
      expect(decodeRequestLine(line)).toEqual(Either.right(request))
    }
  })

  it("answer garbage with a BadRequest that says what is wrong", () => {
    expect(badReason("hello")).toMatch(/^not JSON/)
    expect(badReason("[1,2]")).toBe("expected a JSON object, got an array")
    expect(badReason("42")).toBe("expected a JSON object, got number")
    expect(badReason(`{"request":{"_tag":"Status"}}`)).toMatch(/missing protocol version "v"/)
    expect(badReason(`{"v":2,"request":{"_tag":"Status"}}`)).toMatch(/unsupported protocol version 2 \(this end speaks version 1\)/)
    expect(badReason(`{"v":1}`)).toBe(`missing "request" object`)
    expect(badReason(`{"v":1,"request":{"_tag":"Reboot"}}`)).toMatch(/unknown request "Reboot" \(expected one of Checkpoint, Suspend/)
    expect(badReason(`{"v":1,"request":{"_tag":"Checkpoint"}}`)).toMatch(/request\.path/)
    expect(badReason(`{"v":1,"request":{"_tag":"Checkpoint","path":"rel/snap"}}`)).toMatch(/must be absolute/)
    expect(badReason(`{"v":1,"request":{"_tag":"Suspend","path":"/a\\u0000b"}}`)).toMatch(/NUL/)
  })

  it("ignore fields they do not know, so a newer bhyvectl's extras do not break an older bhyve", () => {
    expect(decodeRequestLine(`{"v":1,"request":{"_tag":"Pause","force":true},"id":7}`)).toEqual(Either.right({ _tag: "Pause" }))
  })

  it("refuse to encode a relative snapshot path", () => {
    const encoded = encodeRequestLine({ _tag: "Checkpoint", path: "snap" })
    expect(Either.isLeft(encoded)).toBe(true)
  })

  it.prop("never throw on arbitrary lines: a request or a BadRequest", [
    fc.oneof(fc.string(), fc.json(), fc.string({ unit: "binary" }))
  ], ([line]) => {
    const decoded = decodeRequestLine(line)
    if (Either.isLeft(decoded)) {
      expect(decoded.left).toBeInstanceOf(BadRequest)
      expect(decoded.left.reason.length).toBeGreaterThan(0)
      expect(decoded.left.reason.length).toBeLessThan(400)
    }
  }, { fastCheck: { seed: 20240501, numRuns: 3000 } })

  const nearMisses = fc.record({
    v: fc.oneof(fc.constant(1), fc.constant(2), fc.constant("1"), fc.constant(null)),
    request: fc.oneof(
      fc.record({
        _tag: fc.constantFrom("Checkpoint", "Suspend", "Destroy", "Pause", "Resume", "Status", "Nope", "__proto__"),
        path: fc.oneof(fc.string(), fc.constant("/abs"), fc.integer(), fc.constant(null))
      }, { requiredKeys: ["_tag"] }),
      fc.anything()
    )
  }, { requiredKeys: [] })

  it.prop("decode near-miss messages to a request only when they are one", [nearMisses], ([message]) => {
    const decoded = decodeRequestLine(JSON.stringify(message))
    if (Either.isRight(decoded)) {
      expect(message.v).toBe(1)
      expect(Either.isRight(encodeRequestLine(decoded.right))).toBe(true)
    } else {
      expect(decoded.left).toBeInstanceOf(BadRequest)
    }
  }, { fastCheck: { seed: 7, numRuns: 2000 } })
})

describe("control replies", () => {
  it("round-trip every result and every failure", () => {
    const failures = [
      new RequestFailed({ request: "Checkpoint", reason: "No space left on device", step: "writing memory" }),
      new RequestFailed({ request: "Resume", reason: "not paused" }),
      new Busy({ running: "Suspend" }),
      new BadRequest({ reason: "not JSON" })
    ]
    for (const reply of [...results.map(Either.right), ...failures.map(Either.left)]) {
      const line = stripNewline(Either.getOrThrow(encodeReplyLine(reply)))
      expect(JSON.parse(line).v).toBe(PROTOCOL_VERSION)
      const decoded = Either.getOrThrow(decodeReplyLine(line))
      expect(decoded).toEqual(reply)
      if (Either.isLeft(decoded)) expect(decoded.left.message).toBe(reply.pipe(Either.flip, Either.getOrThrow).message)
    }
  })

  it("have messages that read as bhyvectl's error line", () => {
    expect(new RequestFailed({ request: "Checkpoint", reason: "disk full", step: "writing memory" }).message)
      .toBe("checkpoint failed at writing memory: disk full")
    expect(new Busy({ running: "Suspend" }).message).toBe("busy: a suspend request is in progress; try again when it has finished")
    expect(new BadRequest({ reason: "x" }).message).toBe("bad request: x")
  })

  it("refuse malformed replies with a reason", () => {
    expect(Either.isLeft(decodeReplyLine("nope"))).toBe(true)
    expect(Either.isLeft(decodeReplyLine(`{"v":1,"ok":true,"result":{"_tag":"Status"}}`))).toBe(true)
    expect(Either.isLeft(decodeReplyLine(`{"v":3,"ok":true,"result":{"_tag":"Pause","ok":true}}`))).toBe(true)
  })

  it("check that a result answers its request and is JSON", () => {
    expect(checkResult({ _tag: "Pause" }, done("Pause"))).toEqual(Either.right(done("Pause")))
    expect(checkResult({ _tag: "Pause" }, done("Resume"))).toEqual(
      Either.left("internal error: bhyve answered a Pause request with a Resume result")
    )
    const notJson: ControlResult = {
      _tag: "Status",
      name: "vm",
      state: "running",
      machine: { size: Number.NaN },
      devices: []
    }
    expect(Either.getLeft(checkResult({ _tag: "Status" }, notJson))._tag).toBe("Some")
  })
})
