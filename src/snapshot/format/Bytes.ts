import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * Binary state (an XSAVE area, a FIFO's contents) inside a JSON chunk:
 * Uint8Array in memory, canonical base64 in the file. `maxLength` bounds the
 * decoded size, and the string is length-checked before any decoding, so a
 * hostile chunk cannot make the reader allocate more than it allows.
 */

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

export const Bytes = (maxLength: number) =>
  Schema.transformOrFail(
    Schema.String.pipe(Schema.maxLength(4 * Math.ceil(maxLength / 3))),
    Schema.Uint8ArrayFromSelf.pipe(
      Schema.filter((b) => b.length <= maxLength || `expected at most ${maxLength} bytes, got ${b.length}`)
    ),
    {
      strict: true,
      decode: (s, _, ast) => {
        if (!BASE64.test(s)) return ParseResult.fail(new ParseResult.Type(ast, s, "expected canonical base64 (RFC 4648, padded)"))
        const decoded = Buffer.from(s, "base64")
        // Copied out of Node's shared pool so `.buffer` is this value's own.
        return ParseResult.succeed(new Uint8Array(decoded))
      },
      encode: (b) => ParseResult.succeed(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64"))
    }
  ).annotations({ identifier: `Bytes(<=${maxLength})` })
