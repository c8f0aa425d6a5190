import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { execFileSync, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as KvmBackend from "../../../src/kernel/kvm/KvmBackend.js"
import { IRQCHIP, STRUCT_SIZE } from "../../../src/kernel/kvm/KvmIoctls.js"
import { KvmVcpus as Vcpus } from "../../../src/kernel/kvm/KvmVcpus.js"
import { Vm } from "../../../src/kernel/kvm/Vm.js"
import { X86_MP_STATES } from "../../../src/kernel/kvm/KvmVcpuState.js"
import {
  decodeIoapicState,
  decodePicState,
  decodeRedirectionEntry,
  IOAPIC_BASE_ADDRESS,
  IOAPIC_PINS,
  ioapicIssues,
  IRQCHIP_ID,
  IRQCHIP_UNION_OFFSET,
  PIC_ELCR_MASK,
  picIssues,
  VmState
} from "../../../src/kernel/kvm/KvmVmState.js"
import { hasKvm } from "../../support/Kvm.js"

/*
 * The semantic checks on the VM chunk read struct kvm_irqchip by offset.
 * Those offsets are checked here against <linux/kvm.h> on this machine (a
 * tiny C program), and the checks against what KVM itself produces and
 * accepts: a fresh VM's chips pass, and KVM takes the states the checks
 * refuse without complaint, which is why the restore has to refuse them.
 */

const C_LAYOUT = String.raw`
#include <stdio.h>
#include <stddef.h>
#include <linux/kvm.h>
#define OFF(t, f) printf("\"%s.%s\":%zu,", #t, #f, offsetof(struct t, f))
int main(void) {
  struct kvm_ioapic_state s = {0};
  printf("{");
  printf("\"irqchip\":%zu,\"pic\":%zu,\"ioapic\":%zu,\"pins\":%d,", sizeof(struct kvm_irqchip), sizeof(struct kvm_pic_state), sizeof(struct kvm_ioapic_state), KVM_IOAPIC_NUM_PINS);
  printf("\"ids\":[%d,%d,%d],", KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC);
  OFF(kvm_irqchip, chip);
  OFF(kvm_ioapic_state, base_address); OFF(kvm_ioapic_state, ioregsel); OFF(kvm_ioapic_state, id);
  OFF(kvm_ioapic_state, irr); OFF(kvm_ioapic_state, redirtbl);
  OFF(kvm_pic_state, last_irr); OFF(kvm_pic_state, irr); OFF(kvm_pic_state, imr); OFF(kvm_pic_state, isr);
  OFF(kvm_pic_state, priority_add); OFF(kvm_pic_state, irq_base); OFF(kvm_pic_state, read_reg_select); OFF(kvm_pic_state, poll);
  OFF(kvm_pic_state, special_mask); OFF(kvm_pic_state, init_state); OFF(kvm_pic_state, auto_eoi); OFF(kvm_pic_state, rotate_on_auto_eoi);
  OFF(kvm_pic_state, special_fully_nested_mode); OFF(kvm_pic_state, init4); OFF(kvm_pic_state, elcr); OFF(kvm_pic_state, elcr_mask);
  s.redirtbl[0].fields.vector = 0xab; s.redirtbl[1].fields.delivery_mode = 5; s.redirtbl[2].fields.dest_mode = 1;
  s.redirtbl[3].fields.delivery_status = 1; s.redirtbl[4].fields.polarity = 1; s.redirtbl[5].fields.remote_irr = 1;
  s.redirtbl[6].fields.trig_mode = 1; s.redirtbl[7].fields.mask = 1; s.redirtbl[8].fields.dest_id = 0xcd;
  printf("\"entries\":[");
  for (int i = 0; i < 9; i++) printf("%s\"%llx\"", i ? "," : "", (unsigned long long)s.redirtbl[i].bits);
  printf("]}\n");
  return 0;
}
`

/** The layout as this machine's compiler sees it, or why it cannot be had. */
const cLayout = ((): Record<string, unknown> | string => {
  if (spawnSync("gcc", ["--version"]).status !== 0) return "no gcc"
  const dir = mkdtempSync(join(tmpdir(), "kvm-layout-"))
  try {
    writeFileSync(join(dir, "layout.c"), C_LAYOUT)
    const build = spawnSync("gcc", ["-o", join(dir, "layout"), join(dir, "layout.c")], { encoding: "utf8" })
    if (build.status !== 0) return `cannot build against <linux/kvm.h>: ${build.stderr.split("\n")[0]}`
    return JSON.parse(execFileSync(join(dir, "layout"), { encoding: "utf8" })) as Record<string, unknown>
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})()

const PIC_FIELDS = [
  "last_irr", "irr", "imr", "isr", "priority_add", "irq_base", "read_reg_select", "poll", "special_mask",
  "init_state", "auto_eoi", "rotate_on_auto_eoi", "special_fully_nested_mode", "init4", "elcr", "elcr_mask"
]

describe("struct kvm_irqchip as VmStateChunk reads it", () => {
  const layout = typeof cLayout === "string" ? undefined : cLayout
  if (layout === undefined) console.warn(`layout check skipped: ${String(cLayout)}`)

  it.skipIf(layout === undefined)("matches <linux/kvm.h> on this machine: sizes, chip ids, the union's offset, every field", () => {
    const l = layout ?? {}
    expect(l.irqchip).toBe(STRUCT_SIZE.irqchip)
    expect(l.pins).toBe(IOAPIC_PINS)
    expect(l.ids).toEqual([IRQCHIP_ID.PIC_MASTER, IRQCHIP_ID.PIC_SLAVE, IRQCHIP_ID.IOAPIC])
    expect(l.ids).toEqual([IRQCHIP.PIC_MASTER, IRQCHIP.PIC_SLAVE, IRQCHIP.IOAPIC])
    expect(l["kvm_irqchip.chip"]).toBe(IRQCHIP_UNION_OFFSET)
    expect(l.ioapic).toBe(24 + 8 * IOAPIC_PINS)
    expect([l["kvm_ioapic_state.base_address"], l["kvm_ioapic_state.ioregsel"], l["kvm_ioapic_state.id"], l["kvm_ioapic_state.irr"], l["kvm_ioapic_state.redirtbl"]])
      .toEqual([0, 8, 12, 16, 24])
    expect(l.pic).toBe(16)
    expect(PIC_FIELDS.map((f) => l[`kvm_pic_state.${f}`])).toEqual(PIC_FIELDS.map((_, i) => i))
    // decodePicState reads the fields in that order.
    const bytes = new Uint8Array(STRUCT_SIZE.irqchip)
    PIC_FIELDS.forEach((_, i) => (bytes[IRQCHIP_UNION_OFFSET + i] = i + 1))
    expect(Object.values(decodePicState(bytes))).toEqual(PIC_FIELDS.map((_, i) => i + 1))
  })

  it.skipIf(layout === undefined)("the redirection entry's bit fields decode where the C compiler puts them", () => {
    const bits = ((layout?.entries ?? []) as Array<string>).map((h) => decodeRedirectionEntry(BigInt(`0x${h}`)))
    expect(bits[0].vector).toBe(0xab)
    expect(bits[1].deliveryMode).toBe(5)
    expect(bits[2].destMode).toBe(1)
    expect(bits[3].deliveryStatus).toBe(1)
    expect(bits[4].polarity).toBe(1)
    expect(bits[5].remoteIrr).toBe(1)
    expect(bits[6].triggerMode).toBe(1)
    expect(bits[7].masked).toBe(true)
    expect(bits[8].destination).toBe(0xcd)
    // Each entry sets exactly one field: nothing else decodes as set.
    const set = bits.map((e) => Object.entries(e).filter(([, v]) => v !== 0 && v !== false).map(([k]) => k))
    expect(set).toEqual([["vector"], ["deliveryMode"], ["destMode"], ["deliveryStatus"], ["polarity"], ["remoteIrr"], ["triggerMode"], ["masked"], ["destination"]])
  })
})

const kernel = KvmBackend.layer({ cpus: 1, memoryBytes: 16 << 20 })

describe.runIf(hasKvm)("the irqchip checks against KVM itself", () => {
  it.scoped("a fresh VM's PICs and IOAPIC pass, and so does the VM chunk made of them", () =>
    Effect.gen(function* () {
      const vm = yield* Vm
      const master = yield* vm.getIrqchip("PIC_MASTER")
      const slave = yield* vm.getIrqchip("PIC_SLAVE")
      const ioapic = yield* vm.getIrqchip("IOAPIC")
      expect(picIssues(master, "PIC_MASTER")).toEqual([])
      expect(picIssues(slave, "PIC_SLAVE")).toEqual([])
      expect(ioapicIssues(ioapic)).toEqual([])
      expect(decodePicState(master).elcrMask).toBe(PIC_ELCR_MASK.PIC_MASTER)
      expect(decodePicState(slave).elcrMask).toBe(PIC_ELCR_MASK.PIC_SLAVE)
      const io = decodeIoapicState(ioapic)
      expect(io.baseAddress).toBe(IOAPIC_BASE_ADDRESS)
      expect(io.redirectionTable.every((e) => decodeRedirectionEntry(e).masked)).toBe(true)
      const state = { picMaster: master, picSlave: slave, ioapic, pit: yield* vm.getPit2, clock: yield* vm.getClock }
      expect(Either.isRight(Schema.decodeEither(VmState)(Schema.encodeSync(VmState)(state)))).toBe(true)
    }).pipe(Effect.provide(kernel)))

  it.scoped("a programmed IOAPIC (what a guest sets up) round-trips through KVM and passes", () =>
    Effect.gen(function* () {
      const vm = yield* Vm
      const bytes = yield* vm.getIrqchip("IOAPIC")
      const v = new DataView(bytes.buffer)
      // Linux's usual set-up: ISA IRQs edge/high to vector 0x30+n, PCI pins level/low, one ExtINT, one NMI, the rest masked.
      for (let pin = 0; pin < 16; pin++) v.setUint32(32 + 8 * pin, 0x30 + pin, true)
      for (let pin = 16; pin < 20; pin++) v.setUint32(32 + 8 * pin, (1 << 15) | (1 << 13) | (1 << 8) | (0x40 + pin), true)
      v.setUint32(32 + 8 * 20, 7 << 8, true)
      v.setUint32(32 + 8 * 21, 4 << 8, true)
      v.setUint32(8 + 12, 3, true) // IOAPIC id
      yield* vm.setIrqchip("IOAPIC", bytes)
      const back = yield* vm.getIrqchip("IOAPIC")
      expect(ioapicIssues(back)).toEqual([])
      expect(decodeIoapicState(back).redirectionTable.slice(0, 22)).toEqual(decodeIoapicState(bytes).redirectionTable.slice(0, 22))
    }).pipe(Effect.provide(kernel)))

  it.scoped("the states the checks refuse, handed to KVM directly: nothing in KVM vets them (what it did is logged)", () =>
    Effect.gen(function* () {
      const vm = yield* Vm
      const crafted = yield* vm.getIrqchip("IOAPIC")
      const v = new DataView(crafted.buffer)
      v.setBigUint64(8, 0xfee0_0000n, true) // over the LAPIC page
      v.setUint32(32 + 8 * 2, (3 << 8) | 0x30, true) // unmasked, reserved delivery mode
      expect(ioapicIssues(crafted)).toHaveLength(2)
      const accepted = yield* Effect.either(vm.setIrqchip("IOAPIC", crafted))
      if (Either.isRight(accepted)) {
        const back = decodeIoapicState(yield* vm.getIrqchip("IOAPIC"))
        console.log(`KVM accepted an IOAPIC at 0x${back.baseAddress.toString(16)} with entry 2 = 0x${back.redirectionTable[2].toString(16)}`)
      } else {
        console.log(`KVM refused the crafted IOAPIC: ${accepted.left.message}`)
      }
      const pic = yield* vm.getIrqchip("PIC_MASTER")
      pic[IRQCHIP_UNION_OFFSET + 5] = 0x21 // irq_base not a multiple of 8
      pic[IRQCHIP_UNION_OFFSET + 15] = 0xff // elcr_mask
      expect(picIssues(pic, "PIC_MASTER")).toHaveLength(2)
      const picAccepted = yield* Effect.either(vm.setIrqchip("PIC_MASTER", pic))
      console.log(`KVM ${Either.isRight(picAccepted) ? "accepted" : "refused"} a PIC with irq_base 0x21 and elcr_mask 0xff`)
    }).pipe(Effect.provide(kernel)))

  it.scoped("x86 KVM refuses the MP states the vCPU schema refuses", () =>
    Effect.gen(function* () {
      const [vcpu] = yield* Vcpus
      for (let state = 0; state <= 12; state++) {
        if (X86_MP_STATES.includes(state)) continue
        const set = yield* Effect.either(vcpu.setMpState(state))
        expect(Either.isLeft(set), `KVM_SET_MP_STATE ${state}`).toBe(true)
      }
      yield* vcpu.setMpState(0)
    }).pipe(Effect.provide(kernel)))
})
