import * as Effect from "effect/Effect"
import { KVM, type KvmIoctlName } from "./KvmIoctls.js"
import { KvmError } from "../KvmError.js"
import type { NativeKvm } from "../NativeKvm.js"

/** A file descriptor plus the addon, so ioctl calls read as `fd.value("CREATE_VM", 0)`. */
export class IoctlFd {
  constructor(readonly native: NativeKvm, readonly fd: number, readonly what: string) {}

  value(name: KvmIoctlName, arg: number): Effect.Effect<number, KvmError> {
    return Effect.suspend(() => this.check(name, this.native.ioctlValue(this.fd, KVM[name], arg)))
  }

  buffer(name: KvmIoctlName, bytes: Uint8Array): Effect.Effect<number, KvmError> {
    return Effect.suspend(() => this.check(name, this.native.ioctlBuffer(this.fd, KVM[name], bytes)))
  }

  /** Fills a fresh struct of `size` bytes from a GET ioctl. */
  get(name: KvmIoctlName, size: number): Effect.Effect<Uint8Array, KvmError> {
    return Effect.suspend(() => {
      const bytes = new Uint8Array(size)
      return Effect.as(this.buffer(name, bytes), bytes)
    })
  }

  set(name: KvmIoctlName, bytes: Uint8Array): Effect.Effect<void, KvmError> {
    return Effect.asVoid(this.buffer(name, bytes))
  }

  close(): Effect.Effect<void> {
    return Effect.sync(() => {
      this.native.close(this.fd)
    })
  }

  private check(name: KvmIoctlName, rc: number): Effect.Effect<number, KvmError> {
    return rc < 0 ? Effect.fail(new KvmError({ operation: `KVM_${name} on ${this.what}`, errno: -rc })) : Effect.succeed(rc)
  }
}
