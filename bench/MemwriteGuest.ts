import { join } from "node:path"
import { ROOT } from "./Paths.js"

/**
 * The guest the checkpoint and restore benchmarks save: memwrite.elf in a
 * 1 GiB machine rewriting the first word of every page of 256 MiB, round
 * after round, checking each page still holds the previous round's value,
 * and printing `tick <n>` every 0.5 ms of its own time (see
 * test/guests/memwrite.c). A restore that brought back any page as of
 * another instant than the save's makes it print `corrupt at ...`.
 */
export const MEMWRITE = join(ROOT, "test/guests/build/memwrite.elf")
export const MEMORY_MIB = 1024
export const WRITE_MIB = 256
export const TICK_US = 500

/** bhyve calibrates the TSC itself (PM timer); QEMU's microvm needs the rate given (`tscKhz`). */
export const memwriteCmdline = (tscKhz?: number): string =>
  `size=${WRITE_MIB} every=${TICK_US}${tscKhz === undefined ? "" : ` tsc_khz=${Math.round(tscKhz)}`}`

/** Lines that mean the guest went wrong; the bench fails on any of them. */
export const MEMWRITE_FATAL = /^(corrupt at .*|memwrite: .*|exception .*)$/
/** Every page written once: 256 MiB of the guest's RAM is dirty from here on. */
export const FIRST_ROUND = /^round 1$/
export const ANY_ROUND = /^round \d+$/
/** A line the guest prints as it runs: after a restore, the first one says it runs again. */
export const RUNNING_LINE = /^(tick|round) \d+$/
