import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores here: run files in parallel, but not more workers than the machine has.
    maxWorkers: 2,
    reporters: ['default'],
  },
})
