import * as Schema from "effect/Schema"
import { FIRST_LEGAL_VECTOR } from "./DeliveryMode.js"
import { STARTUP_QUEUE_LIMIT } from "./LapicSignals.js"
import * as R from "./LapicRegisters.js"
import { VECTOR_SET_WORDS } from "./VectorSet.js"

/** Bumped, with a migration, whenever the saved shape changes. */
export const LAPIC_STATE_VERSION = 1

const U32 = Schema.Int.pipe(Schema.between(0, 0xffff_ffff))
const Byte = Schema.Int.pipe(Schema.between(0, 0xff))
const hex = (n: number) => `0x${n.toString(16)}`

/** IRR, ISR or TMR: word i holds vectors 32i..32i+31. Vectors 0-15 are never accepted, so their bits are never set. */
const VectorWords = Schema.Array(U32).pipe(
  Schema.itemsCount(VECTOR_SET_WORDS),
  Schema.filter((words) => (words[0] & ((1 << FIRST_LEGAL_VECTOR) - 1)) === 0 || "vectors 0-15 are never accepted")
)

const Lvt = Schema.Struct({ timer: U32, thermal: U32, perf: U32, lint0: U32, lint1: U32, error: U32 }).pipe(
  Schema.filter((lvt) =>
    R.LVT_NAMES.flatMap((name, i) => {
      const entry = lvt[name]
      if ((entry & ~R.LVT_WRITABLE[i]) !== 0) return [{ path: [name], message: `${hex(entry)} sets bits this entry does not keep` }]
      const issue = R.lvtEntryIssue(entry)
      return issue === undefined ? [] : [{ path: [name], message: issue }]
    })
  )
)

const Timer = Schema.Struct({
  initialCount: U32,
  divideConfig: Schema.Int.pipe(Schema.between(0, R.DIVIDE_WRITABLE)),
  running: Schema.Boolean,
  /** Since the count was loaded, or the current period began: relative to the clock at save time, never an absolute host time. */
  elapsedNs: Schema.Int.pipe(Schema.between(0, Number.MAX_SAFE_INTEGER))
}).pipe(
  Schema.filter((t) => {
    if ((t.divideConfig & ~R.DIVIDE_WRITABLE) !== 0) return "the divide configuration keeps bits 0, 1 and 3 only"
    if (t.running && t.initialCount === 0) return "a running timer has a non-zero initial count"
    if (!t.running && t.elapsedNs !== 0) return "a stopped timer has no elapsed time"
    return true
  })
)

const StartupSignal = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("init") }),
  Schema.Struct({ kind: Schema.Literal("sipi"), vector: Byte })
)

/** Whether this LVT entry has no source while the LAPIC is software-disabled (those are forced masked; LINT0/1 keep vCPU 0's reset wiring). */
const MASKED_WHILE_DISABLED = ["timer", "thermal", "perf", "error"] as const

/**
 * One LAPIC: its registers as the guest sees them (PPR, APR and the
 * current count are computed, not stored), the errors not yet latched
 * into ESR, its timer, and the NMI, INIT and SIPIs its vCPU has not taken.
 */
export const LapicState = Schema.Struct({
  id: Byte,
  tpr: Byte,
  ldr: U32,
  dfr: U32,
  svr: Schema.Int.pipe(Schema.between(0, R.SVR_WRITABLE)),
  isr: VectorWords,
  tmr: VectorWords,
  irr: VectorWords,
  esr: Schema.Int.pipe(Schema.between(0, R.ESR_BITS)),
  pendingErrors: Schema.Int.pipe(Schema.between(0, R.ESR_BITS)),
  icrLow: U32,
  icrHigh: U32,
  lvt: Lvt,
  timer: Timer,
  nmiPending: Schema.Boolean,
  startup: Schema.Array(StartupSignal).pipe(Schema.maxItems(STARTUP_QUEUE_LIMIT))
}).pipe(
  Schema.filter((s) => {
    const issues: Array<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }> = []
    const at = (path: ReadonlyArray<PropertyKey>, message: string) => issues.push({ path, message })
    if ((s.ldr & ~R.LDR_WRITABLE) !== 0) at(["ldr"], `LDR ${hex(s.ldr)} keeps only bits 24-31`)
    if ((s.dfr & R.DFR_RESERVED_ONES) !== R.DFR_RESERVED_ONES) at(["dfr"], `DFR ${hex(s.dfr)} reads bits 0-27 as ones`)
    if ((s.icrLow & ~R.ICR_LOW_WRITABLE) !== 0) at(["icrLow"], `ICR low ${hex(s.icrLow)} sets reserved or delivery-status bits`)
    if ((s.icrHigh & ~R.ICR_HIGH_WRITABLE) !== 0) at(["icrHigh"], `ICR high ${hex(s.icrHigh)} keeps only the destination`)
    if ((s.svr & R.SVR_ENABLED) === 0) {
      for (const name of MASKED_WHILE_DISABLED) if ((s.lvt[name] & R.LVT_MASKED) === 0) at(["lvt", name], "unmasked while the LAPIC is software-disabled")
    }
    s.startup.forEach((signal, i) => {
      // An INIT empties the queue before it: it can only be first.
      if (signal.kind === "init" && i > 0) at(["startup", i], "an INIT is always first in the queue")
    })
    return issues
  })
).annotations({ identifier: "LapicState" })
export type LapicState = typeof LapicState.Type

/** Every vCPU's LAPIC, by vCPU index: as many as the machine has vCPUs. */
export const XapicSetState = (cpus: number) =>
  Schema.Array(LapicState).pipe(Schema.itemsCount(cpus)).annotations({ identifier: "XapicSetState" })
export type XapicSetState = ReadonlyArray<LapicState>
