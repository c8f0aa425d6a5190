import * as Schema from "effect/Schema"

/** Bumped, with a migration, whenever the saved shape changes. */
export const PIC_STATE_VERSION = 1

/** The ELCR bits that exist: IRQ 0, 1 and 2 (master) and 8 and 13 (slave) are always edge-triggered on a PC. */
export const MASTER_ELCR_MASK = 0xf8
export const SLAVE_ELCR_MASK = 0xde

const Byte = Schema.Int.pipe(Schema.between(0, 255))

/**
 * One 8259A's registers, as QEMU's i8259 keeps them. A snapshot is hostile
 * input: every field is bounded to what PicChip can produce, so a restored
 * chip never computes a vector or priority the real one could not.
 */
const chip = (name: string, elcrMask: number) =>
  Schema.Struct({
    /** Input levels as last seen (edge detection). */
    lastIrr: Byte,
    irr: Byte,
    imr: Byte,
    isr: Byte,
    /** Rotation: the IR with the highest priority. */
    priorityAdd: Schema.Int.pipe(Schema.between(0, 7)),
    /** ICW2: the vector of IR0; the IR number fills the low three bits. */
    irqBase: Byte.pipe(Schema.multipleOf(8)),
    /** OCW3 RR/RIS: a command-port read returns ISR instead of IRR. */
    readIsr: Schema.Boolean,
    /** OCW3 P: the next read is a poll. */
    poll: Schema.Boolean,
    specialMask: Schema.Boolean,
    /** 0 operational; 1, 2, 3: ICW2, ICW3, ICW4 expected. */
    initState: Schema.Int.pipe(Schema.between(0, 3)),
    autoEoi: Schema.Boolean,
    rotateOnAutoEoi: Schema.Boolean,
    specialFullyNested: Schema.Boolean,
    /** ICW1 IC4: an ICW4 follows. */
    init4: Schema.Boolean,
    /** ICW1 SNGL: no ICW3. */
    singleMode: Schema.Boolean,
    /** ICW1 LTIM: all inputs level-triggered. */
    levelTriggered: Schema.Boolean,
    elcr: Byte
  }).pipe(
    Schema.filter((s) => {
      if ((s.elcr & ~elcrMask) !== 0) return `${name} ELCR bits 0x${(s.elcr & ~elcrMask).toString(16)} do not exist (always edge)`
      if (s.initState === 2 && s.singleMode) return `${name} waits for ICW3 in single mode, which has none`
      if (s.initState === 3 && !s.init4) return `${name} waits for an ICW4 that ICW1 did not announce`
      return true
    })
  ).annotations({ identifier: `PicChipState(${name})` })

export const PicChipState = chip("chip", 0xff)
export type PicChipState = typeof PicChipState.Type

/** The PC's cascaded pair: the slave drives the master's IR2. ELCR 0x4D0 is the master's, 0x4D1 the slave's. */
export const PicState = Schema.Struct({
  master: chip("master", MASTER_ELCR_MASK),
  slave: chip("slave", SLAVE_ELCR_MASK)
}).annotations({ identifier: "PicState" })
export type PicState = typeof PicState.Type
