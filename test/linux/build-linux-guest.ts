/**
 * Command line for LinuxGuestBuild: builds (or finds cached) the Linux test
 * guest and prints its artifacts as JSON; exits 3 with the reason when the
 * Debian packages cannot be had. Run through build-linux-guest.sh.
 */
import * as Effect from "effect/Effect"
import { artifactSizes, buildLinuxGuest, defaultCacheDir } from "./LinuxGuestBuild.js"

const cache = process.argv[2] ?? defaultCacheDir()
const started = Date.now()
const result = Effect.runSync(Effect.either(buildLinuxGuest(cache)))
if (result._tag === "Left") {
  process.stderr.write(`${result.left.message}\n`)
  process.exit(3)
}
process.stdout.write(`${JSON.stringify({ ...result.right, sizes: artifactSizes(result.right), seconds: (Date.now() - started) / 1000 }, null, 2)}\n`)
