import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

/**
 * Where MSI/MSI-X messages go: the address/data pair of a table entry. The
 * machine implements it with KVM_SIGNAL_MSI (or GSI routing and an irqfd);
 * tests record the messages.
 */
export interface MsiSinkService {
  readonly signal: (address: bigint, data: number) => void
}

export class MsiSink extends Context.Tag("bhyve-ts/MsiSink")<MsiSink, MsiSinkService>() {}

/** A sink that keeps every message, for tests. */
export const makeRecordingMsiSink = () => {
  const messages: Array<{ readonly address: bigint; readonly data: number }> = []
  return { messages, signal: (address: bigint, data: number) => void messages.push({ address, data }) }
}

export const layerRecording = (sink: MsiSinkService): Layer.Layer<MsiSink> => Layer.succeed(MsiSink, sink)
