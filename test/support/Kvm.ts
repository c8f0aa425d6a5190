import { accessSync, constants } from "node:fs"

/** Why KVM tests cannot run here, or undefined when /dev/kvm is usable. */
export const kvmUnavailableReason = ((): string | undefined => {
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK)
    return undefined
  } catch (e) {
    return `/dev/kvm is not usable here (${(e as NodeJS.ErrnoException).code ?? String(e)}): KVM tests skipped`
  }
})()

export const hasKvm = kvmUnavailableReason === undefined

if (!hasKvm) console.warn(kvmUnavailableReason)
