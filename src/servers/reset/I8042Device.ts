import type { I8042State } from "./I8042State.js"

/** Status register bits (port 0x64). */
export const STATUS_OBF = 0x01
export const STATUS_SYS = 0x04
export const STATUS_A2 = 0x08
export const STATUS_UNINHIBITED = 0x10

/** Controller commands this model answers. */
export const CMD_READ_COMMAND_BYTE = 0x20
export const CMD_WRITE_COMMAND_BYTE = 0x60
export const CMD_DISABLE_AUX = 0xa7
export const CMD_ENABLE_AUX = 0xa8
export const CMD_SELF_TEST = 0xaa
export const CMD_KBD_INTERFACE_TEST = 0xab
export const CMD_DISABLE_KBD = 0xad
export const CMD_ENABLE_KBD = 0xae
export const CMD_READ_OUTPUT_PORT = 0xd0
export const CMD_WRITE_OUTPUT_PORT = 0xd1
/** 0xF0-0xFF pulse output port lines low for each clear bit 0-3; bit 0 is the CPU reset line, so 0xFE is "reset". */
export const CMD_PULSE_BASE = 0xf0
export const CMD_PULSE_RESET = 0xfe

export const SELF_TEST_OK = 0x55
const COMMAND_BYTE_SYS = 0x04
const COMMAND_BYTE_KBD_DISABLED = 0x10
const COMMAND_BYTE_AUX_DISABLED = 0x20
/** Output port bit 0: the CPU reset line, active low. */
const OUTPUT_PORT_RESET_HIGH = 0x01

/**
 * An 8042 keyboard controller with nothing plugged in: enough for the
 * guest's probing to see a sane controller and for its reboot path (command
 * 0xFE, or clearing output port bit 0) to reset the machine. Data written
 * to the keyboard gets no answer, so a guest concludes there is no keyboard.
 */
export class I8042Device {
  private commandByte = 0x45 // translate, system flag, keyboard interrupt: a PC BIOS's choice
  private outputPort = 0x03 // reset line high, A20 enabled
  private outputFull = false
  private outputByte = 0
  private awaitingData = 0
  private lastWasCommand = true

  static fromState(state: I8042State): I8042Device {
    const device = new I8042Device()
    device.restore(state)
    return device
  }

  readStatus(): number {
    return (
      (this.outputFull ? STATUS_OBF : 0) |
      ((this.commandByte & COMMAND_BYTE_SYS) !== 0 ? STATUS_SYS : 0) |
      (this.lastWasCommand ? STATUS_A2 : 0) |
      STATUS_UNINHIBITED
    )
  }

  /** Port 0x60: the waiting byte; with none, the last one again, as the hardware's latch does. */
  readData(): number {
    this.outputFull = false
    return this.outputByte
  }

  /** Port 0x64. Returns "reset" when the command resets the machine. */
  writeCommand(value: number): "reset" | undefined {
    const command = value & 0xff
    this.lastWasCommand = true
    this.awaitingData = 0
    switch (command) {
      case CMD_READ_COMMAND_BYTE:
        this.answer(this.commandByte)
        return undefined
      case CMD_WRITE_COMMAND_BYTE:
      case CMD_WRITE_OUTPUT_PORT:
        this.awaitingData = command
        return undefined
      case CMD_DISABLE_AUX:
        this.commandByte |= COMMAND_BYTE_AUX_DISABLED
        return undefined
      case CMD_ENABLE_AUX:
        this.commandByte &= ~COMMAND_BYTE_AUX_DISABLED
        return undefined
      case CMD_SELF_TEST:
        this.commandByte |= COMMAND_BYTE_SYS
        this.answer(SELF_TEST_OK)
        return undefined
      case CMD_KBD_INTERFACE_TEST:
        this.answer(0x00)
        return undefined
      case CMD_DISABLE_KBD:
        this.commandByte |= COMMAND_BYTE_KBD_DISABLED
        return undefined
      case CMD_ENABLE_KBD:
        this.commandByte &= ~COMMAND_BYTE_KBD_DISABLED
        return undefined
      case CMD_READ_OUTPUT_PORT:
        this.answer(this.outputPort)
        return undefined
    }
    if (command >= CMD_PULSE_BASE && (command & 0x01) === 0) return "reset"
    // Anything else (including 0xA9 and the 0xD3/0xD4 mouse commands) is accepted and ignored.
    return undefined
  }

  /** Port 0x60. Returns "reset" when it clears the output port's reset line. */
  writeData(value: number): "reset" | undefined {
    const v = value & 0xff
    const command = this.awaitingData
    this.lastWasCommand = false
    this.awaitingData = 0
    if (command === CMD_WRITE_COMMAND_BYTE) this.commandByte = v
    if (command === CMD_WRITE_OUTPUT_PORT) {
      this.outputPort = v
      if ((v & OUTPUT_PORT_RESET_HIGH) === 0) return "reset"
    }
    // With no pending command the byte is for the keyboard, which is absent.
    return undefined
  }

  save(): I8042State {
    return {
      commandByte: this.commandByte,
      outputPort: this.outputPort,
      outputFull: this.outputFull,
      outputByte: this.outputByte,
      awaitingData: this.awaitingData,
      lastWasCommand: this.lastWasCommand
    }
  }

  restore(state: I8042State): void {
    this.commandByte = state.commandByte
    this.outputPort = state.outputPort
    this.outputFull = state.outputFull
    this.outputByte = state.outputByte
    this.awaitingData = state.awaitingData
    this.lastWasCommand = state.lastWasCommand
  }

  private answer(byte: number): void {
    this.outputByte = byte & 0xff
    this.outputFull = true
  }
}
