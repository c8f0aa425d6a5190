import * as Context from "effect/Context"

/**
 * The machine's ACPI power button, as bhyve presses it on SIGTERM: the guest
 * sees PWRBTN_STS (and an SCI once it enabled one) and shuts down cleanly.
 */
export class PowerButton extends Context.Tag("bhyve-ts/PowerButton")<PowerButton, { readonly press: () => void }>() {}
