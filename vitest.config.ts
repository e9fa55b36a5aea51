import { defineConfig } from "vitest/config";

const everyTest = ["services/**/*.test.ts", "test/**/*.test.ts", "scripts/**/*.test.ts", "cli/**/*.test.ts"];

/** The scenarios written for one server and one instance (01-11, 17, 18); 12-16 need several instances. */
const singleServerScenarios = ["test/faults/0*.test.ts", "test/faults/1[0178]-*.test.ts"];

function faultsProject(name: string, include: string[], env: Record<string, string>, groupOrder: number) {
  return { extends: true, test: { name, include, env, fileParallelism: false, sequence: { groupOrder } } };
}

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
      // so their timing is not squeezed by unrelated suites on the same two cores. First on one NATS server
      // with one instance of every service, then (FAULTS_CLUSTER=1 runs only this, =0 only the first) on three
      // NATS nodes with two instances of every service — where scenarios 12-16, about several instances, live.
      ...(process.env.FAULTS_CLUSTER === "1" ? [] : [faultsProject("faults", singleServerScenarios, {}, 1)]),
      ...(process.env.FAULTS_CLUSTER === "0" ? [] : [faultsProject("faults-cluster", ["test/faults/**/*.test.ts"], { FAULTS_CLUSTER: "1" }, 2)]),
    ],
  },
});
