import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import { recordingLine, type InterruptLine } from "./InterruptLine.js"

/**
 * Where device servers get their interrupt lines. The kernel provides the
 * real one (KVM_IRQ_LINE on the in-kernel PIC/IOAPIC); tests provide lines
 * that only record their level.
 */
export class InterruptController extends Context.Tag("bhyve-ts/InterruptController")<
  InterruptController,
  { readonly line: (n: number) => InterruptLine }
>() {}

export type RecordingLine = ReturnType<typeof recordingLine>

/** A controller whose lines record their levels; one line object per number, so tests can inspect it. */
export const makeRecordingController = () => {
  const lines = new Map<number, RecordingLine>()
  const line = (n: number): RecordingLine => {
    const existing = lines.get(n)
    if (existing !== undefined) return existing
    const created = recordingLine(n)
    lines.set(n, created)
    return created
  }
  return { line, lines }
}

export const layerRecording = (controller: ReturnType<typeof makeRecordingController>): Layer.Layer<InterruptController> =>
  Layer.succeed(InterruptController, { line: controller.line })
