import { describe, expect, it } from "@effect/vitest"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { besidesBackendNote, connectWhenListening, runBhyve, startBhyve, waitFor } from "../../support/BhyveProcess.js"
import { guestPath } from "../../support/GuestRun.js"

describe("test guests with their own virtio drivers: rnd and console", () => {
  it("vrnd reads random bytes from virtio-rnd: nearly every byte value shows up", () => {
    const dir = mkdtempSync(join(tmpdir(), "bhyve-vrnd-"))
    const r = runBhyve([
      "-c", "1", "-m", "64M", "-s", "0,hostbridge", "-s", "3,virtio-rnd", "-s", "31,lpc", "-l", "com1,stdio",
      "-o", `boot.kernel=${guestPath("vrnd.elf")}`, "-o", "boot.cmdline=bytes=65536",
      "-o", `control.socket=${join(dir, "ctl")}`, `vrnd-${process.pid}`
    ])
    expect(besidesBackendNote(r.stderr)).toBe("")
    expect(r.status).toBe(1)
    const m = /^virtio-rnd at 0:3\.0\nrnd 65536 bytes distinct (\d+)\n$/.exec(r.stdout)
    expect(m, r.stdout).not.toBeNull()
    // 65536 uniform bytes miss a value with probability about 256 * e^-256.
    expect(Number(m?.[1])).toBe(256)
  })

  it("vcons writes its line to the console socket and echoes the lines the host sends", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bhyve-vcons-"))
    const sock = join(dir, "console.sock")
    const vm = startBhyve([
      "-c", "1", "-m", "64M", "-s", "0,hostbridge", "-s", `4,virtio-console,port1=${sock}`, "-s", "31,lpc",
      "-l", "com1,stdio", "-o", `boot.kernel=${guestPath("vcons.elf")}`,
      // wait=1: the guest writes its text once input shows someone is connected (output with no client is dropped).
      "-o", "boot.cmdline=text=hello_from_the_guest echo=3 wait=1",
      "-o", `control.socket=${join(dir, "ctl")}`, `vcons-${process.pid}`
    ])
    try {
      // The socket file appears at bind(), a moment before listen(): connecting in between is refused, so retry.
      const client = await connectWhenListening(sock)
      let received = ""
      client.setEncoding("utf8").on("data", (s: string) => (received += s))
      client.write("first line\n")
      await waitFor("the guest's text", () => received.includes("hello from the guest\n"))
      // Split across writes, and two lines in one write: the guest assembles lines itself.
      client.write("second ")
      await waitFor("the first echo", () => received.includes("first line\n"))
      client.write("line\nthird\r\n")
      expect(await vm.exited).toBe(1)
      await waitFor("the last echo", () => received.includes("third\n"), 5_000)
      client.destroy()
      expect(received).toBe("hello from the guest\nfirst line\nsecond line\nthird\n")
      expect(vm.stdout()).toBe(
        "virtio-console at 0:4.0\nconsole tx hello from the guest\nconsole rx first line\nconsole rx second line\nconsole rx third\nconsole done\n"
      )
      expect(besidesBackendNote(vm.stderr())).toBe("")
    } finally {
      vm.kill()
    }
  }, 60_000)
})
