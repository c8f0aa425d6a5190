import * as Effect from "effect/Effect"
import { readFileSync } from "node:fs"
import { release } from "node:os"
import type { HostInfo } from "./format/Manifest.js"

const cpuinfoField = (text: string, field: string) =>
  text.split("\n").find((l) => l.startsWith(field))?.split(":").slice(1).join(":").trim() || "unknown"

/** The host a snapshot was taken on: restoring on another CPU model may not work, so the manifest says which. */
export const hostInfo: Effect.Effect<HostInfo> = Effect.sync(() => {
  let cpuinfo = ""
  try {
    cpuinfo = readFileSync("/proc/cpuinfo", "utf8")
  } catch {
    // not Linux, or /proc not mounted: the fields say "unknown"
  }
  return { cpuVendor: cpuinfoField(cpuinfo, "vendor_id"), cpuModel: cpuinfoField(cpuinfo, "model name"), kernelRelease: release() }
})
