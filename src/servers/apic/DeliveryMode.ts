/**
 * The delivery modes an interrupt message carries, with the same 3-bit
 * encoding in an IOAPIC redirection entry, an MSI data word, a LAPIC's ICR
 * and its LVT entries (SDM 10.5.1, 10.6.1, 10.11.2; 82093AA 3.2.4).
 */
export const FIXED = 0
export const LOWEST_PRIORITY = 1
export const SMI = 2
export const NMI = 4
export const INIT = 5
/** Only an IPI can be a start-up; in the IOAPIC, MSI and LVT encodings 6 is reserved. */
export const STARTUP = 6
export const EXTINT = 7

/**
 * Vectors 0-15 are the exceptions: a LAPIC refuses them for fixed and
 * lowest-priority delivery and flags an illegal vector (SDM 10.5.3).
 */
export const FIRST_LEGAL_VECTOR = 16

export const isFixedLike = (mode: number): boolean => mode === FIXED || mode === LOWEST_PRIORITY

/** A vector that no LAPIC would accept with this delivery mode. */
export const illegalVector = (mode: number, vector: number): boolean => isFixedLike(mode) && vector < FIRST_LEGAL_VECTOR

/** Encodings an IOAPIC redirection entry or an MSI message may not use. */
export const reservedForMessages = (mode: number): boolean => mode === 3 || mode === STARTUP

/** Encodings an LVT entry may not use (lowest priority has no meaning for a local source). */
export const reservedForLvt = (mode: number): boolean => mode === LOWEST_PRIORITY || mode === 3 || mode === STARTUP
