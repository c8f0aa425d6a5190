import { PitChannel } from "./PitChannel.js"
import { PORT_B_STORED, type PitState } from "./PitState.js"

/** Offsets in the 0x40-0x43 range: three counters, then the control word register. */
export const CONTROL = 3
export const CHANNELS = 3

const READ_BACK = 3
const PORT_B_GATE2 = 0x01
const PORT_B_REFRESH = 0x10
const PORT_B_OUT2 = 0x20

/**
 * The Intel 8254 as a PC wires it: channel 0 for the system timer (its
 * OUT is IRQ 0, which PitServer delivers), channel 1 the old DRAM refresh
 * counter, channel 2 for the speaker, gated and read back through port 0x61.
 * GATE of channels 0 and 1 is tied high. A pure state machine: every
 * access takes the device clock's time in nanoseconds.
 */
export class PitDevice {
  private readonly channels: ReadonlyArray<PitChannel>
  /** Port 0x61 bits 1-3 as written (speaker data, parity and channel-check enables; no NMI source exists here). */
  private portB = 0
  private refresh = false

  constructor(nowNs: number) {
    this.channels = [new PitChannel(true, nowNs), new PitChannel(true, nowNs), new PitChannel(false, nowNs)]
  }

  static fromState(state: PitState, nowNs: number): PitDevice {
    const device = new PitDevice(nowNs)
    device.restore(state, nowNs)
    return device
  }

  /** Ports 0x40-0x42 read the counters; the control word register is write-only and reads 0, as in QEMU. */
  read(offset: number, nowNs: number): number {
    return offset === CONTROL ? 0 : this.channels[offset].read(nowNs)
  }

  write(offset: number, value: number, nowNs: number): void {
    if (offset !== CONTROL) return this.channels[offset].write(value, nowNs)
    const select = (value >> 6) & 3
    if (select === READ_BACK) return this.readBack(value, nowNs)
    const access = (value >> 4) & 3
    const channel = this.channels[select]
    if (access === 0) channel.latchCount(nowNs)
    else channel.writeControl(access, (value >> 1) & 7, nowNs)
  }

  /** Port 0x61: GATE2 and the stored bits as written, bit 4 toggling on every read (QEMU's refresh stand-in), bit 5 channel 2's OUT. */
  readPortB(nowNs: number): number {
    this.refresh = !this.refresh
    const ch2 = this.channels[2]
    return (ch2.gateLevel ? PORT_B_GATE2 : 0) | this.portB | (this.refresh ? PORT_B_REFRESH : 0) | (ch2.out(nowNs) ? PORT_B_OUT2 : 0)
  }

  writePortB(value: number, nowNs: number): void {
    this.portB = value & PORT_B_STORED
    this.channels[2].setGate((value & PORT_B_GATE2) !== 0, nowNs)
  }

  out(channel: number, nowNs: number): boolean {
    return this.channels[channel].out(nowNs)
  }

  /** When channel's OUT next rises after `nowNs` (device-clock ns), if it will without further writes. */
  nextRise(channel: number, nowNs: number): number | undefined {
    return this.channels[channel].nextRise(nowNs)
  }

  save(nowNs: number): PitState {
    const [c0, c1, c2] = this.channels
    return { channels: [c0.save(nowNs), c1.save(nowNs), c2.save(nowNs)], portB: this.portB, refresh: this.refresh }
  }

  restore(state: PitState, nowNs: number): void {
    state.channels.forEach((s, i) => this.channels[i].restore(s, nowNs))
    this.portB = state.portB
    this.refresh = state.refresh
  }

  /** Read-back command: latch count (bit 5 clear) and/or status (bit 4 clear) of each channel selected in bits 1-3. */
  private readBack(value: number, nowNs: number): void {
    this.channels.forEach((channel, i) => {
      if ((value & (2 << i)) === 0) return
      if ((value & 0x20) === 0) channel.latchCount(nowNs)
      if ((value & 0x10) === 0) channel.latchStatus(nowNs)
    })
  }
}
