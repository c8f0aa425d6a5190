/**
 * bhyve-ts as a library: compose a machine from device layers and run it
 * as an Effect. See README.md, "Composing a machine in code".
 */
export * as Machine from "./machine/Machine.js"
export { describeExit, exitStatus, type MachineExit, VcpuFailure } from "./machine/MachineExit.js"
export { MachineConfig } from "./machine/MachineConfig.js"
export { legacyDevices, specFromConfig } from "./machine/MachineFromConfig.js"
export * as Uart from "./servers/uart/UartServer.js"
export * as Rtc from "./servers/rtc/RtcServer.js"
export * as Pm from "./servers/pm/PmServer.js"
export * as Reset from "./servers/reset/ResetServer.js"
export * as SerialBackend from "./servers/serial-backend/SerialBackends.js"
export * as Bus from "./bus/Bus.js"
export type { PioHandler, MmioHandler, AccessSize } from "./bus/DeviceHandlers.js"
export { announce, type DeviceServer } from "./servers/DeviceServer.js"
export { MachineEvents } from "./servers/MachineEvents.js"
export { InterruptController } from "./servers/InterruptController.js"
export * as MachineSnapshots from "./snapshot/MachineSnapshots.js"
export { SaveFailed } from "./snapshot/SaveErrors.js"
