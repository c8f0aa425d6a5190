import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ["test/globalSetup.ts"],
    // KVM tests run busy guests (each a thread or two) and time them: one
    // test file at a time keeps them from starving each other on two cores.
    fileParallelism: false
  }
})
