import type { StartupSignal } from "../../kernel/CpuInterrupts.js"
import type { DeviceClockService } from "../DeviceClock.js"
import * as DeliveryMode from "./DeliveryMode.js"
import * as R from "./LapicRegisters.js"
import { LapicSignals } from "./LapicSignals.js"
import type { LapicState } from "./LapicState.js"
import { LapicTimer } from "./LapicTimer.js"
import * as Vectors from "./VectorSet.js"

/** What a LAPIC needs from the rest of the APIC bus. */
export interface LapicLinks {
  /** Sends the IPI this LAPIC's ICR describes (written to ICR low just now). */
  readonly sendIpi: (source: number, icrLow: number, icrHigh: number) => void
  /** The EOI of a level-triggered vector, broadcast to the IOAPIC. */
  readonly levelEoi: (vector: number) => void
}

/**
 * One xAPIC (SDM chapter 10) as a pure state machine: the register page by
 * offset, messages in through `accept`, and the CPU's side (`hasInterrupt`,
 * `acknowledge`, `takeNmi`, `takeStartup`). Always enabled in the APIC base
 * MSR sense; after reset software-disabled (SVR 0xff) with every LVT
 * masked, except vCPU 0's LINT0 (ExtINT) and LINT1 (NMI), which firmware
 * leaves in virtual wire mode. Follows KVM's lapic.c where the SDM leaves a
 * choice. The interrupt path (accept, hasInterrupt, acknowledge, register
 * access) allocates nothing.
 */
export class LapicDevice {
  private id: number
  private tpr = 0
  private ldr = 0
  private dfr = 0xffff_ffff
  private svr = R.SVR_RESET
  private readonly isr = Vectors.make()
  private readonly tmr = Vectors.make()
  private readonly irr = Vectors.make()
  private esr = 0
  /** Errors seen since the last ESR write; the next write makes them visible (SDM 10.5.3). */
  private pendingErrors = 0
  private icrLow = 0
  private icrHigh = 0
  private readonly lvt = new Uint32Array(R.LVT_COUNT)
  private readonly timer: LapicTimer
  private readonly signals = new LapicSignals()

  constructor(
    /** The vCPU index, which is also its initial APIC ID. */
    readonly index: number,
    clock: DeviceClockService,
    private readonly links: LapicLinks
  ) {
    this.id = index
    this.timer = new LapicTimer(clock, () => this.localInterrupt(R.LVT_TIMER))
    this.resetRegisters()
  }

  get softwareEnabled(): boolean {
    return (this.svr & R.SVR_ENABLED) !== 0
  }

  readRegister(offset: number): number {
    switch (offset) {
      case R.REG_ID:
        return (this.id << 24) >>> 0
      case R.REG_VERSION:
        return R.LAPIC_VERSION
      case R.REG_TPR:
        return this.tpr
      case R.REG_APR:
        return this.arbitrationPriority()
      case R.REG_PPR:
        return this.processorPriority()
      case R.REG_LDR:
        return this.ldr
      case R.REG_DFR:
        return this.dfr
      case R.REG_SVR:
        return this.svr
      case R.REG_ESR:
        return this.esr
      case R.REG_ICR_LOW:
        return this.icrLow
      case R.REG_ICR_HIGH:
        return this.icrHigh
      case R.REG_TIMER_INITIAL:
        return this.timer.readInitialCount()
      case R.REG_TIMER_CURRENT:
        return this.timer.currentCount()
      case R.REG_TIMER_DIVIDE:
        return this.timer.readDivide()
    }
    if (offset >= R.REG_ISR && offset < R.REG_ISR + 0x80) return this.isr[(offset - R.REG_ISR) >>> 4]
    if (offset >= R.REG_TMR && offset < R.REG_TMR + 0x80) return this.tmr[(offset - R.REG_TMR) >>> 4]
    if (offset >= R.REG_IRR && offset < R.REG_IRR + 0x80) return this.irr[(offset - R.REG_IRR) >>> 4]
    if (offset >= R.REG_LVT_TIMER && offset <= R.REG_LVT_ERROR) return this.lvt[(offset - R.REG_LVT_TIMER) >>> 4]
    // EOI and RRD read 0, as do reserved registers (KVM's answer).
    return 0
  }

  writeRegister(offset: number, value: number): void {
    const v = value >>> 0
    switch (offset) {
      case R.REG_ID:
        // Writable in xAPIC mode; physical destinations follow it (as in KVM and QEMU).
        this.id = v >>> 24
        return
      case R.REG_TPR:
        this.tpr = v & 0xff
        return
      case R.REG_EOI:
        this.endOfInterrupt()
        return
      case R.REG_LDR:
        this.ldr = (v & R.LDR_WRITABLE) >>> 0
        return
      case R.REG_DFR:
        this.dfr = (v | R.DFR_RESERVED_ONES) >>> 0
        return
      case R.REG_SVR:
        this.writeSvr(v)
        return
      case R.REG_ESR:
        this.esr = this.pendingErrors
        this.pendingErrors = 0
        return
      case R.REG_ICR_LOW:
        this.icrLow = v & R.ICR_LOW_WRITABLE
        this.links.sendIpi(this.index, this.icrLow, this.icrHigh)
        return
      case R.REG_ICR_HIGH:
        this.icrHigh = (v & R.ICR_HIGH_WRITABLE) >>> 0
        return
      case R.REG_TIMER_INITIAL:
        this.timer.writeInitialCount(v)
        return
      case R.REG_TIMER_DIVIDE:
        this.timer.writeDivide(v)
        return
    }
    if (offset >= R.REG_LVT_TIMER && offset <= R.REG_LVT_ERROR && (offset & 0xf) === 0) this.writeLvt((offset - R.REG_LVT_TIMER) >>> 4, v)
    // Everything else is read-only or reserved: ignored.
  }

  /**
   * A message for this LAPIC (from the IOAPIC, an MSI, an IPI or its own
   * LVT). True when it was taken. Fixed and lowest-priority set IRR (TMR
   * says level or edge for the EOI); NMI, INIT and start-up wait for the
   * vCPU; SMI is not modelled and is dropped; ExtINT has no vector, and the
   * PIC is reached through LINT0 instead (KVM does the same).
   */
  accept(mode: number, vector: number, level: boolean, levelTriggered: boolean): boolean {
    switch (mode) {
      case DeliveryMode.FIXED:
      case DeliveryMode.LOWEST_PRIORITY:
        // A level-triggered de-assert message carries no interrupt.
        if (levelTriggered && !level) return false
        // A software-disabled LAPIC takes no fixed interrupts (KVM's __apic_accept_irq).
        if (!this.softwareEnabled) return false
        if (vector < DeliveryMode.FIRST_LEGAL_VECTOR) {
          this.error(R.ESR_RECEIVE_ILLEGAL_VECTOR)
          return false
        }
        Vectors.add(this.irr, vector)
        if (levelTriggered) Vectors.add(this.tmr, vector)
        else Vectors.remove(this.tmr, vector)
        return true
      case DeliveryMode.NMI:
        this.signals.raiseNmi()
        return true
      case DeliveryMode.INIT:
        // INIT level de-assert only synchronises arbitration IDs: nothing to do.
        if (levelTriggered && !level) return false
        this.signals.init()
        return true
      case DeliveryMode.STARTUP:
        this.signals.startup(vector)
        return true
      case DeliveryMode.SMI:
        return true
      default:
        return false
    }
  }

  /** An error the sender itself detected (an IPI with an illegal vector). */
  sendError(): void {
    this.error(R.ESR_SEND_ILLEGAL_VECTOR)
  }

  /** An IRR vector whose priority class is above the processor priority. */
  hasInterrupt(): boolean {
    const vector = Vectors.highest(this.irr)
    return vector >= 0 && (vector & 0xf0) > (this.processorPriority() & 0xf0)
  }

  /** The interrupt acknowledge: the highest deliverable IRR vector moves to ISR -> it, or -1. */
  acknowledge(): number {
    if (!this.hasInterrupt()) return -1
    const vector = Vectors.highest(this.irr)
    Vectors.remove(this.irr, vector)
    Vectors.add(this.isr, vector)
    return vector
  }

  /** Whether the PIC's INTR reaches this CPU: LINT0 unmasked in ExtINT mode, or vCPU 0 with its LAPIC software-disabled (the PC's virtual wire). */
  acceptsPic(): boolean {
    const lint0 = this.lvt[R.LVT_LINT0]
    if ((lint0 & R.LVT_MASKED) === 0 && R.lvtDeliveryMode(lint0) === DeliveryMode.EXTINT) return true
    return this.index === 0 && !this.softwareEnabled
  }

  takeNmi(): boolean {
    return this.signals.takeNmi()
  }

  /** The oldest INIT or SIPI. Taking an INIT resets this LAPIC, as the CPU's INIT does (SDM 10.4.7.3). */
  takeStartup(): StartupSignal | undefined {
    const signal = this.signals.takeStartup()
    if (signal?.kind === "init") this.resetRegisters()
    return signal
  }

  /** Physical destination: this LAPIC's ID, or the broadcast ID. */
  matchesPhysical(destination: number): boolean {
    return destination === R.BROADCAST || destination === this.id
  }

  /** Logical destination by the DFR's model (KVM's kvm_apic_match_logical_addr for xAPIC). */
  matchesLogical(destination: number): boolean {
    const logicalId = this.ldr >>> 24
    switch (this.dfr >>> R.DFR_MODEL_SHIFT) {
      case R.DFR_FLAT:
        return (logicalId & destination) !== 0
      case R.DFR_CLUSTER:
        return (logicalId >>> 4) === (destination >>> 4) && (logicalId & destination & 0xf) !== 0
      default:
        return false
    }
  }

  /** Cancels the timer's callback for good. */
  dispose(): void {
    this.timer.dispose()
  }

  save(): LapicState {
    return {
      id: this.id,
      tpr: this.tpr,
      ldr: this.ldr,
      dfr: this.dfr,
      svr: this.svr,
      isr: Array.from(this.isr),
      tmr: Array.from(this.tmr),
      irr: Array.from(this.irr),
      esr: this.esr,
      pendingErrors: this.pendingErrors,
      icrLow: this.icrLow,
      icrHigh: this.icrHigh,
      lvt: {
        timer: this.lvt[R.LVT_TIMER],
        thermal: this.lvt[R.LVT_THERMAL],
        perf: this.lvt[R.LVT_PERF],
        lint0: this.lvt[R.LVT_LINT0],
        lint1: this.lvt[R.LVT_LINT1],
        error: this.lvt[R.LVT_ERROR]
      },
      timer: this.timer.save(),
      ...this.signals.save()
    }
  }

  restore(state: LapicState): void {
    this.id = state.id
    this.tpr = state.tpr
    this.ldr = state.ldr
    this.dfr = state.dfr
    this.svr = state.svr
    this.isr.set(state.isr)
    this.tmr.set(state.tmr)
    this.irr.set(state.irr)
    this.esr = state.esr
    this.pendingErrors = state.pendingErrors
    this.icrLow = state.icrLow
    this.icrHigh = state.icrHigh
    R.LVT_NAMES.forEach((name, i) => (this.lvt[i] = state.lvt[name]))
    this.timer.restore(state.timer, (state.lvt.timer & R.LVT_TIMER_PERIODIC) !== 0)
    this.signals.restore(state.nmiPending, state.startup)
  }

  /** Power-on and INIT state; the APIC ID survives an INIT (the constructor sets it first). */
  private resetRegisters(): void {
    this.tpr = 0
    this.ldr = 0
    this.dfr = 0xffff_ffff
    this.svr = R.SVR_RESET
    Vectors.clear(this.isr)
    Vectors.clear(this.tmr)
    Vectors.clear(this.irr)
    this.esr = 0
    this.pendingErrors = 0
    this.icrLow = 0
    this.icrHigh = 0
    this.lvt.fill(R.LVT_MASKED)
    if (this.index === 0) {
      // Virtual wire mode, as firmware leaves the BSP (kernel/kvm/LapicState.withVirtualWire): the PIC through LINT0, NMI on LINT1.
      this.lvt[R.LVT_LINT0] = DeliveryMode.EXTINT << R.LVT_DELIVERY_MODE_SHIFT
      this.lvt[R.LVT_LINT1] = DeliveryMode.NMI << R.LVT_DELIVERY_MODE_SHIFT
    }
    this.timer.stop()
    this.timer.writeDivide(0)
    this.timer.setPeriodic(false)
    // The INIT that resets the CPU also drops an NMI it had not taken (KVM's reset clears nmi_pending).
    this.signals.clearNmi()
  }

  /** PPR (SDM 10.8.3.1): TPR, or the class of the highest in-service vector when that is higher. */
  private processorPriority(): number {
    const isrv = Math.max(0, Vectors.highest(this.isr))
    return (this.tpr >>> 4) >= (isrv >>> 4) ? this.tpr : isrv & 0xf0
  }

  /** APR (SDM 10.8.3.1), used for lowest-priority arbitration; read-only. */
  private arbitrationPriority(): number {
    const isrv = Math.max(0, Vectors.highest(this.isr))
    const irrv = Math.max(0, Vectors.highest(this.irr))
    const tprClass = this.tpr >>> 4
    if (tprClass >= irrv >>> 4 && tprClass > isrv >>> 4) return this.tpr
    return Math.max(this.tpr & 0xf0, isrv & 0xf0, irrv & 0xf0)
  }

  private endOfInterrupt(): void {
    const vector = Vectors.highest(this.isr)
    if (vector < 0) return
    Vectors.remove(this.isr, vector)
    // Level-triggered: the IOAPIC clears remote IRR for it (and sends again if the line is still up).
    if (Vectors.has(this.tmr, vector)) this.links.levelEoi(vector)
  }

  private writeSvr(value: number): void {
    this.svr = value & R.SVR_WRITABLE
    // Software-disabling sets every LVT mask, and they stay set until it is enabled again (SDM 10.4.7.2).
    if (!this.softwareEnabled) for (let i = 0; i < R.LVT_COUNT; i++) this.lvt[i] |= R.LVT_MASKED
  }

  private writeLvt(index: number, value: number): void {
    let entry = value & R.LVT_WRITABLE[index]
    if (!this.softwareEnabled) entry |= R.LVT_MASKED
    if (index === R.LVT_TIMER) {
      // TSC-deadline is not offered (no CPUID bit): it reads back as one-shot, with the count stopped.
      if (((value >>> 17) & 3) === R.LVT_TIMER_MODE_TSC_DEADLINE) this.timer.stop()
      this.timer.setPeriodic((entry & R.LVT_TIMER_PERIODIC) !== 0)
    }
    // An entry no LAPIC could deliver is held masked, so every state the device can be in is one a snapshot may hold.
    if (R.lvtEntryIssue(entry) !== undefined) entry |= R.LVT_MASKED
    this.lvt[index] = entry >>> 0
  }

  /** An LVT source fired (only the timer has one here). */
  private localInterrupt(index: number): void {
    const entry = this.lvt[index]
    if ((entry & R.LVT_MASKED) !== 0) return
    this.accept(R.lvtDeliveryMode(entry), entry & R.LVT_VECTOR, true, (entry & R.LVT_LEVEL) !== 0)
  }

  private error(bit: number): void {
    this.pendingErrors |= bit
    this.localInterrupt(R.LVT_ERROR)
  }
}
