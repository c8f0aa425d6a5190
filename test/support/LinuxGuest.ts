/**
 * The Linux test guest for tests: the artifacts test/linux/build-linux-guest.sh
 * makes from Debian's packages, built at most once per test file (the
 * build's own cache makes later calls cheap), or the reason they could not
 * be had. A test that needs Linux skips with that reason and no other:
 *
 *   const guest = await linuxGuest()
 *   it.skipIf(!guest.available)(`boots (${skipReason(guest)})`, ...)
 */
import * as Effect from "effect/Effect"
import { buildLinuxGuest, defaultCacheDir, type LinuxGuestArtifacts } from "../linux/LinuxGuestBuild.js"

export type { LinuxGuestArtifacts } from "../linux/LinuxGuestBuild.js"
export { MARKER } from "../linux/InitScript.js"

export type LinuxGuest =
  | { readonly available: true; readonly artifacts: LinuxGuestArtifacts }
  | { readonly available: false; readonly reason: string }

let built: Promise<LinuxGuest> | undefined

/**
 * Builds (or finds cached) the guest in test/linux/cache. Packages that
 * cannot be had resolve to `available: false`; a bug in the build rejects,
 * so it fails the test instead of skipping it.
 */
export const linuxGuest = (): Promise<LinuxGuest> => {
  built ??= Effect.runPromise(buildLinuxGuest(defaultCacheDir()).pipe(
    Effect.map((artifacts): LinuxGuest => ({ available: true, artifacts })),
    Effect.catchAll((e) => Effect.succeed<LinuxGuest>({ available: false, reason: e.message }))
  ))
  return built
}

/** "" when available, else " (skipped: REASON)" for a test title. */
export const skipReason = (g: LinuxGuest): string => g.available ? "" : ` (skipped: ${g.reason})`
