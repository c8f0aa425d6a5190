import { spawn, spawnSync } from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"

export const bhyveBin = fileURLToPath(new URL("../../dist/bundle/bhyve-main.js", import.meta.url))

/** Runs the bundled `bhyve` (what `npm install` builds and package.json's bin names) as a user would, stdin closed; never waits more than `timeoutMs`. */
export const runBhyve = (args: ReadonlyArray<string>, timeoutMs = 30_000) => {
  const result = spawnSync(process.execPath, [bhyveBin, ...args], { encoding: "utf8", timeout: timeoutMs, stdio: ["ignore", "pipe", "pipe"] })
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr }
}

export const bhyvectlBin = fileURLToPath(new URL("../../dist/bundle/bhyvectl-main.js", import.meta.url))

export const runBhyvectl = (args: ReadonlyArray<string>, timeoutMs = 60_000) => {
  const result = spawnSync(process.execPath, [bhyvectlBin, ...args], { encoding: "utf8", timeout: timeoutMs, stdio: ["ignore", "pipe", "pipe"] })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

export interface RunningBhyve {
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves with bhyve's exit status (null when killed by a signal). */
  readonly exited: Promise<number | null>
  readonly kill: (signal?: NodeJS.Signals) => void
}

/** Starts `bhyve` in the background, collecting what it prints. */
export const startBhyve = (args: ReadonlyArray<string>): RunningBhyve => {
  const child = spawn(process.execPath, [bhyveBin, ...args], { stdio: ["ignore", "pipe", "pipe"] })
  let out = ""
  let err = ""
  child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s))
  child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { stdout: () => out, stderr: () => err, exited, kill: (signal = "SIGKILL") => child.kill(signal) }
}

/** Polls until `condition` holds, or fails after `timeoutMs`. */
export const waitFor = async (what: string, condition: () => boolean, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** What bhyve says when cpu.backend=auto passes KVM over (once, at start): expected on a machine without a usable /dev/kvm. */
const BACKEND_NOTE = /^bhyve: .*: running on the software CPU\n/m

/** `stderr` without that one line, so a test can ask that bhyve said nothing else. */
export const besidesBackendNote = (stderr: string): string => stderr.replace(BACKEND_NOTE, "")

/** A socket bhyve serves (a virtio-console port) appears at bind(), a moment before listen(): connecting in between is refused, so retry. */
export const connectWhenListening = async (path: string, timeoutMs = 20_000): Promise<net.Socket> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const client = net.connect(path)
        client.once("connect", () => resolve(client)).once("error", reject)
      })
    } catch (e) {
      if (Date.now() > deadline) throw e
      await new Promise((r) => setTimeout(r, 20))
    }
  }
}
