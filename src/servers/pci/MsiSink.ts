import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

/**
 * One MSI-X vector's way to the CPUs. The route follows the vector's
 * address/data as the guest reprograms its table entry.
 */
export interface MsiRoute {
  readonly send: (address: bigint, data: number) => void
}

/**
 * Where MSI/MSI-X messages go. The machine implements it with KVM GSI
 * routing and an irqfd per vector (src/kernel/KvmMsiRoutes.ts); tests
 * record the messages.
 */
export interface MsiSinkService {
  /** A route for one vector, made when the vector first fires; it lives as long as the machine. */
  readonly route: () => MsiRoute
}

export class MsiSink extends Context.Tag("bhyve-ts/MsiSink")<MsiSink, MsiSinkService>() {}

/** A sink that keeps every message, for tests. */
export const makeRecordingMsiSink = () => {
  const messages: Array<{ readonly address: bigint; readonly data: number }> = []
  const send = (address: bigint, data: number) => void messages.push({ address, data })
  return { messages, route: () => ({ send }) }
}

export const layerRecording = (sink: MsiSinkService): Layer.Layer<MsiSink> => Layer.succeed(MsiSink, sink)
