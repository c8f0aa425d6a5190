import * as Schema from "effect/Schema"

/**
 * A value that survives JSON.stringify/JSON.parse unchanged: the shape of the
 * free-form parts of control replies (a status report's `machine`, a
 * snapshot's `details`). Checking it when a reply is encoded means a handler
 * that puts a bigint, NaN or a class instance in there gets a clear
 * RequestFailed instead of a reply that silently changes on the wire.
 */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | ReadonlyArray<JsonValue>
  | { readonly [key: string]: JsonValue }

const isPlainObject = (u: unknown): u is Record<string, unknown> => {
  if (typeof u !== "object" || u === null || Array.isArray(u)) return false
  const proto: unknown = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

/** Objects nested deeper than this are refused, so hostile input cannot blow the stack. */
const MAX_DEPTH = 64

const isJson = (u: unknown, depth: number): u is JsonValue => {
  if (u === null || typeof u === "boolean" || typeof u === "string") return true
  if (typeof u === "number") return Number.isFinite(u)
  if (depth >= MAX_DEPTH) return false
  if (Array.isArray(u)) return u.every((item) => isJson(item, depth + 1))
  if (isPlainObject(u)) return Object.values(u).every((item) => isJson(item, depth + 1))
  return false
}

export const isJsonValue = (u: unknown): u is JsonValue => isJson(u, 0)

/** JSON data: null, booleans, finite numbers, strings, arrays and plain objects, at most 64 levels deep. */
export const JsonValue: Schema.Schema<JsonValue> = Schema.declare(isJsonValue, {
  identifier: "JsonValue",
  description: "JSON data (finite numbers, plain objects, at most 64 levels deep)"
})
