/**
 * Two delivery-status processes (own connections, own in-process locks: what two replicas share is only
 * the database) applying the same opens of one send at once, as the send retires facts under them.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shared, uniqueName, waitFor } from "../../../test/harness.ts";
import { repoRoot } from "../../../tools/local-servers.ts";
import { keptFactsLimit } from "../send-retirement.ts";
import { SendsRepository } from "../sends-repository.ts";

const racerScript = join(repoRoot, "test", "support", "delivery-racer.ts");

describe("two delivery-status instances on one send with hundreds of events", () => {
  let client: MongoClient;
  beforeAll(async () => {
    client = await new MongoClient(shared.mongoUri).connect();
  });
  afterAll(async () => client?.close());

  it("fold every open exactly once between them while the send retires facts", { timeout: 120_000 }, async () => {
    const database = uniqueName("delivery_race");
    const ws = uniqueName("ws");
    const count = 400;
    const racers = [1, 2].map((seed) => {
      const child = spawn(process.execPath, [racerScript, shared.mongoUri, database, ws, String(count), String(seed)], { stdio: ["pipe", "pipe", "pipe"] });
      const lines: string[] = [];
      let stderr = "";
      createInterface({ input: child.stdout }).on("line", (line) => lines.push(line));
      child.stderr.on("data", (chunk) => (stderr += chunk));
      const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
      return { child, lines, closed, stderr: () => stderr };
    });
    try {
      const gone = await waitFor(() => (racers.every((r) => r.lines[0] === "ready") ? "ready" : racers.find((r) => r.child.exitCode !== null)), {
        what: "both racer processes to connect",
      });
      if (gone !== "ready") throw new Error(`a racer exited early: ${gone.stderr()}`);
      for (const racer of racers) racer.child.stdin.end("go\n");
      await Promise.all(racers.map((r) => r.closed));
      const added = racers.map((r) => {
        if (r.child.exitCode !== 0) throw new Error(`a racer failed (${r.child.exitCode}): ${r.stderr()}`);
        return (JSON.parse(r.lines.at(-1)!) as { added: number }).added;
      });
      const repo = new SendsRepository(client.db(database));
      const send = (await repo.get(ws, "raced"))!;
      expect(send.state.openCount).toBe(count);
      expect(added[0]! + added[1]!).toBe(count); // each open added by exactly one of them
      expect(send.timelinePages).toBeGreaterThan(0);
      expect(send.facts.length).toBeLessThanOrEqual(keptFactsLimit + 9);
      const listed = await repo.listTimeline(send, undefined, 1000);
      expect(new Set(listed.map((entry) => entry.svixId)).size).toBe(count);
    } finally {
      for (const racer of racers) if (racer.child.exitCode === null) racer.child.kill("SIGKILL");
      await client.db(database).dropDatabase().catch(() => {});
    }
  });
});
