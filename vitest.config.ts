import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["services/**/*.test.ts", "test/**/*.test.ts", "scripts/**/*.test.ts", "bin/**/*.test.ts", "cli/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    reporters: ["default", "./test/summary-reporter.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start real servers; a third worker on two cores only adds contention.
    maxWorkers: 2,
  },
});
