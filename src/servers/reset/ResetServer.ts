import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Bus from "../../bus/Bus.js"
import type { BadRange, BusConflict } from "../../bus/BusErrors.js"
import { announce, type DeviceServers } from "../DeviceServer.js"
import { MachineEvents } from "../MachineEvents.js"
import * as I8042BusAdapter from "./I8042BusAdapter.js"
import { I8042Device } from "./I8042Device.js"
import { I8042_STATE_VERSION, I8042State } from "./I8042State.js"
import * as ResetControlBusAdapter from "./ResetControlBusAdapter.js"
import { ResetControlDevice } from "./ResetControlDevice.js"
import { RESET_CONTROL_STATE_VERSION, ResetControlState } from "./ResetControlState.js"

type ResetLayer = Layer.Layer<never, BusConflict | BadRange, Bus.Bus | DeviceServers | MachineEvents>

/** Port 0xCF9, the chipset reset control register ("reset-cf9"). */
export const layerResetControl: ResetLayer = Layer.scopedDiscard(
  Effect.gen(function* () {
    const events = yield* MachineEvents
    const device = new ResetControlDevice()
    const onReset = () => events.request("reset", "reset-cf9")
    yield* Bus.registerPio("reset-cf9", ResetControlBusAdapter.RESET_CONTROL_PORT, 1, ResetControlBusAdapter.make(device, onReset))
    yield* announce({
      id: "reset-cf9",
      kind: "reset-control",
      stateVersion: RESET_CONTROL_STATE_VERSION,
      stateSchema: ResetControlState,
      save: () => device.save(),
      restore: (state) => device.restore(state)
    })
  })
)

/** Ports 0x60/0x64, the keyboard controller's reboot path ("i8042"). */
export const layerI8042: ResetLayer = Layer.scopedDiscard(
  Effect.gen(function* () {
    const events = yield* MachineEvents
    const device = new I8042Device()
    const onReset = () => events.request("reset", "i8042")
    yield* Bus.registerPio("i8042", I8042BusAdapter.DATA_PORT, 1, I8042BusAdapter.make(device, "data", onReset))
    yield* Bus.registerPio("i8042", I8042BusAdapter.COMMAND_PORT, 1, I8042BusAdapter.make(device, "command", onReset))
    yield* announce({
      id: "i8042",
      kind: "i8042",
      stateVersion: I8042_STATE_VERSION,
      stateSchema: I8042State,
      save: () => device.save(),
      restore: (state) => device.restore(state)
    })
  })
)

/** Both ways a guest resets a PC. */
export const layer: ResetLayer = Layer.merge(layerResetControl, layerI8042)
