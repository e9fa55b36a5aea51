import { defineConfig } from "vitest/config";

const everyTest = ["services/**/*.test.ts", "test/**/*.test.ts", "scripts/**/*.test.ts", "cli/**/*.test.ts"];

export default defineConfig({
  test: {
    globalSetup: ["test/global-setup.ts"],
    reporters: ["default", "./test/summary-reporter.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start real servers; a third worker on two cores only adds contention.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: "services", include: everyTest, exclude: ["test/faults/**"], sequence: { groupOrder: 0 } } },
      // The fault scenarios stop and kill whole stacks under load: they run after the rest, one file at a time,
      // so their timing is not squeezed by unrelated suites on the same two cores.
      {
        extends: true,
        test: {
          name: "faults",
          include: ["test/faults/**/*.test.ts"],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
