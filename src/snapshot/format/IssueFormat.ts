import * as ParseResult from "effect/ParseResult"

/** `$.chunks[0].sha256`: where in the JSON document an issue is. */
export const jsonPath = (path: ReadonlyArray<PropertyKey>): string =>
  "$" +
  path
    .map((k) =>
      typeof k === "number" ? `[${k}]` : typeof k === "string" && /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(String(k))}]`
    )
    .join("")

/** One line per issue, each starting with its JSON path: readable by people, greppable by machines. */
export const formatIssues = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => `at ${jsonPath(issue.path)}: ${issue.message}`)
    .join("\n")
