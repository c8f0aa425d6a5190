import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ["test/globalSetup.ts"],
    // KVM tests spawn guests and native threads; two cores are all we have.
    maxWorkers: 2,
    minWorkers: 1
  }
})
