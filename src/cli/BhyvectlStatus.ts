import type { ResultFor } from "../control/ControlResult.js"
import type { JsonValue } from "../control/JsonValue.js"

type StatusResult = ResultFor<"Status">

const isObject = (v: JsonValue): v is { readonly [key: string]: JsonValue } =>
  typeof v === "object" && v !== null && !Array.isArray(v)

/** The machine's top-level scalar facts ("cpus=2 memory=64M"); nested detail is left to --json. */
const machineLine = (machine: JsonValue): string | undefined => {
  if (!isObject(machine)) return machine === null ? undefined : JSON.stringify(machine)
  const facts = Object.entries(machine)
    .filter(([, v]) => v === null || typeof v !== "object")
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
  return facts.length === 0 ? undefined : facts.join(" ")
}

/**
 * `bhyvectl --status` for people:
 *
 *   vm1: running
 *     machine: cpus=1 memory=67108864
 *     devices: com1 (uart), rtc (rtc)
 */
export const formatStatus = (status: StatusResult): string => {
  const lines = [`${status.name}: ${status.state}`]
  const machine = machineLine(status.machine)
  if (machine !== undefined) lines.push(`  machine: ${machine}`)
  const devices = status.devices.map((d) => (d.id === d.kind ? d.id : `${d.id} (${d.kind})`))
  lines.push(`  devices: ${devices.length === 0 ? "none" : devices.join(", ")}`)
  return `${lines.join("\n")}\n`
}

/** `bhyvectl --status --json`: the result as bhyve sent it, for jq and friends. */
export const formatStatusJson = (status: StatusResult): string => `${JSON.stringify(status, null, 2)}\n`
