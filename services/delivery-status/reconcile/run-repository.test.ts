/**
 * The run store's guarantees across instances, on the run's real FerretDB: each "instance" is a
 * RunRepository on a MongoClient of its own (its own connections), so the races below are decided by the
 * database, never inside one driver. Every test works in a database of its own: `claim` looks at every
 * workspace's runs.
 */
import { MongoClient, type Db } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shared, uniqueName } from "../../../test/harness.ts";
import { RunRepository, type ReconciliationRun } from "./run-repository.ts";

const instances: MongoClient[] = [];
beforeAll(async () => {
  for (let i = 0; i < 2; i++) instances.push(await new MongoClient(shared.mongoUri, { retryWrites: false }).connect());
});
afterAll(async () => {
  await Promise.all(instances.map((client) => client.close()));
});

/** The same database as seen by two instances: [its db on instance A, on instance B]. */
function twoInstances(): { dbs: [Db, Db]; repos: [RunRepository, RunRepository] } {
  const name = uniqueName("test");
  const dbs: [Db, Db] = [instances[0]!.db(name), instances[1]!.db(name)];
  return { dbs, repos: [new RunRepository(dbs[0]), new RunRepository(dbs[1])] };
}

/** A run as startRun stores it: running, nobody working on it. */
function newRun(workspaceId: string, runId = uniqueName("run"), nowMs = Date.now()): ReconciliationRun {
  return {
    workspaceId,
    runId,
    selection: { unsettledOnly: false },
    trigger: "manual",
    state: "running",
    total: 10,
    checked: 0,
    changed: 0,
    unchanged: 0,
    failed: 0,
    failures: [],
    eventsPublished: 0,
    stopReason: "",
    createdAtMs: nowMs,
    updatedAtMs: nowMs,
    owner: "",
    leaseUntilMs: 0,
  };
}

/** The run after one more send checked (what workOnRun saves). */
function oneMoreChecked(run: ReconciliationRun, emailId: string, changed: boolean): ReconciliationRun {
  return {
    ...run,
    checked: run.checked + 1,
    changed: run.changed + (changed ? 1 : 0),
    unchanged: run.unchanged + (changed ? 0 : 1),
    eventsPublished: run.eventsPublished + (changed ? 2 : 0),
    cursor: emailId,
  };
}

describe("the reconciliation run store", () => {
  it("starts one run per workspace across instances: of 10 starts at once exactly one starts, the others answer its id", async () => {
    const { repos } = twoInstances();
    const workspaceId = uniqueName("ws");
    const other = uniqueName("ws");
    const runs = Array.from({ length: 10 }, () => newRun(workspaceId));
    const [results, otherStart] = await Promise.all([Promise.all(runs.map((run, i) => repos[i % 2]!.start(run))), repos[1].start(newRun(other))]);

    const started = results.filter((result) => result.started);
    expect(started).toHaveLength(1);
    const winner = started[0]!.started ? started[0]!.run.runId : "";
    expect(results.map((result) => (result.started ? result.run.runId : result.runId))).toEqual(runs.map(() => winner));
    // The losers left no run behind for a worker to pick up.
    for (const run of runs.filter((candidate) => candidate.runId !== winner)) expect(await repos[0].get(workspaceId, run.runId)).toBeUndefined();
    expect((await repos[0].get(workspaceId, winner))?.state).toBe("running");
    // Another workspace is not held up by this one's run.
    expect(otherStart.started).toBe(true);
  });

  it("lets the workspace start a new run once its run finished", async () => {
    const { repos } = twoInstances();
    const workspaceId = uniqueName("ws");
    const first = newRun(workspaceId);
    expect((await repos[0].start(first)).started).toBe(true);
    expect(await repos[1].start(newRun(workspaceId))).toEqual({ started: false, runId: first.runId });

    expect(await repos[0].finish(first, "succeeded", "", Date.now())).toBe(true);
    const second = newRun(workspaceId);
    expect(await repos[1].start(second)).toEqual({ started: true, run: second });
    expect((await repos[0].get(workspaceId, first.runId))?.state).toBe("succeeded");
  });

  it("answers a run id started before with that run, starting nothing (a silence announced twice)", async () => {
    const { repos } = twoInstances();
    const workspaceId = uniqueName("ws");
    const run = newRun(workspaceId, "silence-1");
    expect((await repos[0].start(run)).started).toBe(true);
    expect(await repos[0].finish(run, "succeeded", "", Date.now())).toBe(true);
    expect(await repos[1].start(newRun(workspaceId, "silence-1"))).toEqual({ started: false, runId: "silence-1" });
    expect((await repos[0].get(workspaceId, "silence-1"))?.state).toBe("succeeded");
  });

  it("is not blocked forever by a run whose instance died after finishing it but before letting the workspace go", async () => {
    const { dbs, repos } = twoInstances();
    const workspaceId = uniqueName("ws");
    const died = newRun(workspaceId);
    expect((await repos[0].start(died)).started).toBe(true);
    expect(await repos[0].finish(died, "succeeded", "", Date.now())).toBe(true);
    // The instance died between the two writes of finish: the run is finished, the workspace still held.
    await dbs[0].collection("delivery_reconcile_active").insertOne({ _id: workspaceId as never, runId: died.runId });

    // Two instances starting at once take the workspace over once.
    const runs = [newRun(workspaceId), newRun(workspaceId), newRun(workspaceId), newRun(workspaceId)];
    const results = await Promise.all(runs.map((run, i) => repos[i % 2]!.start(run)));
    const started = results.filter((result) => result.started);
    expect(started).toHaveLength(1);
    const winner = started[0]!.started ? started[0]!.run.runId : "";
    expect(results.map((result) => (result.started ? result.run.runId : result.runId))).toEqual(runs.map(() => winner));
    expect(await repos[1].start(newRun(workspaceId))).toEqual({ started: false, runId: winner });
  });

  it("gives a run whose lease ran out to exactly one of the instances claiming it at once", async () => {
    const { repos } = twoInstances();
    const t0 = Date.now();
    const run = newRun(uniqueName("ws"), undefined, t0);
    await repos[0].start(run);

    const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => repos[i % 2]!.claim(`instance-${i}`, t0 + 1, 1000)));
    const taken = claims.filter((claimed) => claimed !== undefined);
    expect(taken).toHaveLength(1);
    const stored = await repos[0].get(run.workspaceId, run.runId);
    expect(stored?.owner).toBe(taken[0]!.owner);
    expect(stored?.leaseUntilMs).toBe(t0 + 1001);
  });

  it("leaves a run with a live lease alone, and resumes it at its cursor and counts on another instance once the lease ran out", async () => {
    const { repos } = twoInstances();
    const t0 = Date.now();
    const run = newRun(uniqueName("ws"), undefined, t0);
    await repos[0].start(run);
    const held = (await repos[0].claim("instance-a", t0, 100))!;
    expect(held.owner).toBe("instance-a");
    expect(await repos[1].claim("instance-b", t0 + 50, 100)).toBeUndefined();

    // Every save renews the lease: a run making progress is never taken away.
    const progressed = oneMoreChecked(oneMoreChecked(held, "email-1", true), "email-2", false);
    expect(await repos[0].save(oneMoreChecked(held, "email-1", true), 0, t0 + 80, 100)).toBe(true);
    expect(await repos[0].save(progressed, 1, t0 + 150, 100)).toBe(true);
    expect(await repos[1].claim("instance-b", t0 + 200, 100)).toBeUndefined();

    // Instance A went quiet: once its lease (t0 + 250) ran out, B resumes where A saved.
    const resumed = await repos[1].claim("instance-b", t0 + 251, 100);
    expect(resumed).toMatchObject({ owner: "instance-b", leaseUntilMs: t0 + 351, cursor: "email-2", checked: 2, changed: 1, unchanged: 1, eventsPublished: 2 });
    expect(await repos[0].save(oneMoreChecked(progressed, "email-3", true), 2, t0 + 260, 100)).toBe(false);
  });

  it("saves nothing with a stale progress read or from an instance that lost the run", async () => {
    const { repos } = twoInstances();
    const t0 = Date.now();
    const run = newRun(uniqueName("ws"), undefined, t0);
    await repos[0].start(run);
    const held = (await repos[0].claim("instance-a", t0, 100))!;
    const once = oneMoreChecked(held, "email-1", true);
    expect(await repos[0].save(once, 0, t0 + 10, 100)).toBe(true);
    const afterFirstSave = await repos[0].get(run.workspaceId, run.runId);

    // checkedBefore 0 is stale: the stored run has checked 1 (a second worker of the same instance name).
    expect(await repos[0].save(oneMoreChecked(held, "email-9", false), 0, t0 + 20, 100)).toBe(false);
    expect(await repos[0].get(run.workspaceId, run.runId)).toEqual(afterFirstSave);

    // B took the run over after A's lease ran out; A, not knowing, saves with a correct progress read.
    const taken = (await repos[1].claim("instance-b", t0 + 111, 100))!;
    expect(taken.owner).toBe("instance-b");
    const afterTakeOver = await repos[1].get(run.workspaceId, run.runId);
    expect(await repos[0].save(oneMoreChecked(once, "email-2", true), 1, t0 + 120, 100)).toBe(false);
    expect(await repos[0].finish(oneMoreChecked(once, "email-2", true), "succeeded", "", t0 + 120)).toBe(false);
    expect(await repos[1].get(run.workspaceId, run.runId)).toEqual(afterTakeOver);
    // Nor does A's failed finish let the workspace go while B works on the run.
    expect(await repos[0].start(newRun(run.workspaceId))).toEqual({ started: false, runId: run.runId });
  });

  it("moves the sweep mark once when two instances move it from the same mark", async () => {
    const { repos } = twoInstances();
    const workspaceId = uniqueName("ws");
    expect(await repos[0].sweptUntil(workspaceId)).toBeUndefined();

    const first = await Promise.all([repos[0].advanceSweep(workspaceId, undefined, 1000), repos[1].advanceSweep(workspaceId, undefined, 1001)]);
    expect(first.filter(Boolean)).toHaveLength(1);
    const mark = await repos[0].sweptUntil(workspaceId);
    expect(mark).toBe(first[0] ? 1000 : 1001);

    const second = await Promise.all([repos[0].advanceSweep(workspaceId, mark, 2000), repos[1].advanceSweep(workspaceId, mark, 2001)]);
    expect(second.filter(Boolean)).toHaveLength(1);
    expect(await repos[1].sweptUntil(workspaceId)).toBe(second[0] ? 2000 : 2001);
    // A caller that read the old mark moves nothing.
    expect(await repos[1].advanceSweep(workspaceId, mark, 3000)).toBe(false);
    expect(await repos[0].sweptUntil(workspaceId)).toBe(second[0] ? 2000 : 2001);
  });
});
