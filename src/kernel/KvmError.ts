import * as Data from "effect/Data"
import { constants } from "node:os"

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]))

export const errnoName = (errno: number): string => errnoNames.get(errno) ?? `errno ${errno}`

/** A KVM ioctl (or mmap/open around it) the kernel refused. */
export class KvmError extends Data.TaggedError("KvmError")<{
  readonly operation: string
  readonly errno: number
  readonly detail?: string
}> {
  override get message() {
    const extra = this.detail ? ` (${this.detail})` : ""
    return `${this.operation} failed: ${errnoName(this.errno)}${extra}`
  }
}

/** /dev/kvm is missing or not accessible: nothing can run. */
export class KvmUnavailable extends Data.TaggedError("KvmUnavailable")<{
  readonly path: string
  readonly errno: number
}> {
  override get message() {
    const why = errnoName(this.errno) === "ENOENT"
      ? "it does not exist (is the kvm module loaded?)"
      : errnoName(this.errno) === "EACCES" ? "permission denied (add yourself to the kvm group)" : errnoName(this.errno)
    return `cannot open ${this.path}: ${why}`
  }
}

/** The native addon could not be loaded (not built, or wrong platform). */
export class NativeAddonMissing extends Data.TaggedError("NativeAddonMissing")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `native KVM addon not available at ${this.path}: ${this.reason} (run npm install)`
  }
}
