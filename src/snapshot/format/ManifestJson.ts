import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { formatIssues } from "./IssueFormat.js"
import { SnapshotManifest } from "./Manifest.js"
import { ManifestInvalid, type Version } from "./SnapshotErrors.js"
import { FORMAT_VERSION } from "./StateHeader.js"

/** The manifest as UTF-8 JSON bytes, and back, strictly. */

export const parseOptions = { errors: "all", onExcessProperty: "error" } as const

const encodeEither = Schema.encodeEither(SnapshotManifest, parseOptions)
const decodeEither = Schema.decodeUnknownEither(SnapshotManifest, parseOptions)
const utf8 = new TextDecoder("utf-8", { fatal: true })

/** Left carries the formatted issues: the writer was handed an invalid manifest. */
export const encodeManifest = (manifest: SnapshotManifest): Either.Either<Uint8Array, string> =>
  Either.map(Either.mapLeft(encodeEither(manifest), formatIssues), (encoded) => new TextEncoder().encode(JSON.stringify(encoded)))

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** `version` is the one in the state header; the manifest must agree with it. */
export const decodeManifest = (path: string, bytes: Uint8Array, version: Version): Either.Either<SnapshotManifest, ManifestInvalid> => {
  const invalid = (details: string) => {
    // A newer minor may add manifest fields this build does not know: say so.
    const hint =
      version.minor > FORMAT_VERSION.minor
        ? `\n(the file was written by format ${version.major}.${version.minor}; this build reads up to ${FORMAT_VERSION.major}.${FORMAT_VERSION.minor})`
        : ""
    return Either.left(new ManifestInvalid({ path, details: details + hint }))
  }
  let json: unknown
  try {
    json = JSON.parse(utf8.decode(bytes))
  } catch (e) {
    return invalid(`not UTF-8 JSON: ${errorText(e)}`)
  }
  let decoded: Either.Either<SnapshotManifest, string>
  try {
    decoded = Either.mapLeft(decodeEither(json), formatIssues)
  } catch (e) {
    // Only a pathological document gets here (e.g. nesting deep enough to overflow the stack).
    return invalid(`cannot be decoded: ${errorText(e)}`)
  }
  if (Either.isLeft(decoded)) return invalid(decoded.left)
  const m = decoded.right
  if (m.formatVersion.major !== version.major || m.formatVersion.minor !== version.minor) {
    return invalid(
      `at $.formatVersion: ${m.formatVersion.major}.${m.formatVersion.minor} disagrees with the header's ${version.major}.${version.minor}`
    )
  }
  return Either.right(m)
}
