/** Waits (on the real event loop) until `done` holds: for device work that completes asynchronously. */
export const until = async (done: () => boolean, ms = 5000): Promise<void> => {
  const deadline = Date.now() + ms
  while (!done()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the device")
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
}
