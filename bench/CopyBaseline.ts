import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import { closeSync, openSync, rmSync, writeSync } from "node:fs"
import { BenchFailure } from "./Benchmark.js"
import { monotonicMs } from "./MonotonicClock.js"

/**
 * What the operating system's own copy costs for the bytes a snapshot
 * moves: the bar that save and restore are held against. Every figure is
 * page-cache warm (the source was just written, and dropping caches needs
 * root), and the timing includes spawning `cp`, ~1-2 ms.
 */

/** Milliseconds to run one command to success; `to` is removed afterwards. */
const timed = (what: string, command: string, args: ReadonlyArray<string>, to: string) =>
  Effect.suspend(() => {
    const t0 = monotonicMs()
    const r = spawnSync(command, args, { stdio: ["ignore", "ignore", "pipe"] })
    const ms = monotonicMs() - t0
    rmSync(to, { force: true })
    return r.status === 0
      ? Effect.succeed(ms)
      : Effect.fail(new BenchFailure({ what, reason: `${command} exited ${r.status ?? r.signal}: ${r.stderr.toString().trim()}` }))
  })

/** `cp --sparse=always`: copies only the data of a sparse file and leaves its holes as holes. */
export const cpSparse = (from: string, to: string) =>
  timed("cp --sparse=always", "cp", ["--sparse=always", from, to], to)

/** The same copy made durable, as a save is (it fsyncs the RAM and state files): `sync FILE` fsyncs the copy. */
export const cpSparseSync = (from: string, to: string) =>
  timed("cp --sparse=always && sync", "sh", ["-c", 'cp --sparse=always "$1" "$2" && sync "$2"', "sh", from, to], to)

export const cpDense = (from: string, to: string) => timed("cp", "cp", [from, to], to)

/** A file of `bytes` non-zero bytes (so nothing about it is sparse), written in 16 MiB pieces. */
export const writeDenseFile = (path: string, bytes: number) =>
  Effect.sync(() => {
    const piece = Buffer.alloc(16 << 20, 0xa5)
    const fd = openSync(path, "w", 0o600)
    try {
      for (let at = 0; at < bytes; at += piece.length) writeSync(fd, piece, 0, Math.min(piece.length, bytes - at))
    } finally {
      closeSync(fd)
    }
  })
