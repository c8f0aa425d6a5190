import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { DeviceServer } from "../../servers/DeviceServer.js"
import { formatIssues } from "./IssueFormat.js"
import type { ChunkEntry } from "./Manifest.js"
import { ChunkEncodeError, ChunkInvalid } from "./SnapshotErrors.js"

/**
 * How one kind of state becomes a chunk and back. New saves always use the
 * current `version`; older versions decode through a migration straight to
 * the current type (STYLE.md: freeze V1, decode it with
 * `Schema.transform(V1, Schema.typeSchema(V2), ...)`).
 */

export interface ChunkMigration<A> {
  readonly fromVersion: number
  readonly decode: (encoded: unknown) => Either.Either<A, ParseResult.ParseError>
}

export interface ChunkCodec<A, I = unknown> {
  /** Manifest `kind`, e.g. "device", "vcpu", "vm". */
  readonly kind: string
  /** Manifest `schema`, e.g. "uart16550"; stable across versions. */
  readonly schemaId: string
  readonly version: number
  readonly schema: Schema.Schema<A, I>
  readonly migrations: ReadonlyArray<ChunkMigration<A>>
}

/** What the writer stores: an encoded chunk and its manifest identity. */
export interface ChunkInput {
  readonly id: string
  readonly kind: string
  readonly schemaId: string
  readonly version: number
  readonly payload: Uint8Array
}

const parseOptions = { errors: "all", onExcessProperty: "error" } as const

/** A migration from `fromVersion`: `schema` decodes that version's JSON into the current type. */
export const migration = <A, I>(fromVersion: number, schema: Schema.Schema<A, I>): ChunkMigration<A> => ({
  fromVersion,
  decode: Schema.decodeUnknownEither(schema, parseOptions)
})

export const make = <A, I>(codec: {
  readonly kind: string
  readonly schemaId: string
  readonly version: number
  readonly schema: Schema.Schema<A, I>
  readonly migrations?: ReadonlyArray<ChunkMigration<A>>
}): ChunkCodec<A, I> => ({ ...codec, migrations: codec.migrations ?? [] })

/** A device server's state as a codec (kind "device", schema = the device model). */
export const fromDeviceServer = <A, I>(server: DeviceServer<A, I>, migrations: ReadonlyArray<ChunkMigration<A>> = []) =>
  make({ kind: "device", schemaId: server.kind, version: server.stateVersion, schema: server.stateSchema, migrations })

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e))

export const encodeChunk = <A, I>(codec: ChunkCodec<A, I>, id: string, value: NoInfer<A>): Effect.Effect<ChunkInput, ChunkEncodeError> =>
  Effect.gen(function* () {
    const encoded = yield* Schema.encodeEither(codec.schema, parseOptions)(value).pipe(
      Either.mapLeft((e) => new ChunkEncodeError({ chunkId: id, details: formatIssues(e) }))
    )
    const json = yield* Effect.try({
      try: () => JSON.stringify(encoded),
      catch: (e) => new ChunkEncodeError({ chunkId: id, details: `not JSON: ${errorText(e)}` })
    })
    if (typeof json !== "string") return yield* new ChunkEncodeError({ chunkId: id, details: "encodes to nothing" })
    return { id, kind: codec.kind, schemaId: codec.schemaId, version: codec.version, payload: new TextEncoder().encode(json) }
  })

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** Decodes an (already checksum-verified) payload, migrating older versions. `path` names the file in errors. */
export const decodeChunk = <A, I>(
  codec: ChunkCodec<A, I>,
  entry: ChunkEntry,
  bytes: Uint8Array,
  path = "<memory>"
): Effect.Effect<A, ChunkInvalid> =>
  Effect.gen(function* () {
    const invalid = (details: string) => new ChunkInvalid({ path, chunkId: entry.id, details })
    if (entry.kind !== codec.kind || entry.schema !== codec.schemaId) {
      return yield* invalid(`holds ${entry.kind}/${entry.schema}, expected ${codec.kind}/${codec.schemaId}`)
    }
    const decode =
      entry.version === codec.version
        ? Schema.decodeUnknownEither(codec.schema, parseOptions)
        : codec.migrations.find((m) => m.fromVersion === entry.version)?.decode
    if (decode === undefined) {
      return yield* invalid(
        entry.version > codec.version
          ? `version ${entry.version} is newer than this build reads (${codec.version})`
          : `no migration from version ${entry.version} to ${codec.version}`
      )
    }
    const json = yield* Effect.try({ try: () => JSON.parse(utf8.decode(bytes)) as unknown, catch: (e) => invalid(`not UTF-8 JSON: ${errorText(e)}`) })
    // Formatting the issues walks the value too: a hostile nesting depth must fail here, not overflow the stack later.
    const decoded = yield* Effect.try({
      try: () => Either.mapLeft(decode(json), formatIssues),
      catch: (e) => invalid(`cannot be decoded: ${errorText(e)}`)
    })
    return yield* Either.mapLeft(decoded, invalid)
  })
