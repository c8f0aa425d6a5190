import type { Socket } from "node:net"

/**
 * Whether the process at the other end of `socket` may control this VM.
 *
 * FreeBSD's bhyve can ask the kernel who connected (LOCAL_PEERCRED); Node has
 * no API for Linux's equivalent, SO_PEERCRED, so this does not look at the
 * peer at all. Access control rests entirely on the filesystem instead: the
 * socket's directory is created 0700 and vetted (ControlSocketPath), and the
 * socket itself is chmod 0600 (ControlServer), so only this user and root
 * can connect(2) to it. With an explicit control socket path in a shared
 * directory, only the 0600 mode protects it.
 *
 * This is the place to add a real uid check if peer credentials become
 * available (say, from the native addon).
 */
export const authorizePeer = (_socket: Socket): boolean => true
