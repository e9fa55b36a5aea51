import { afterAll, describe, expect, it } from "vitest";
import { shared, uniqueName } from "../../../test/harness.ts";
import { createLogger } from "../../shared/log.ts";
import { connectMongo, type MongoHandles } from "../../shared/mongo.ts";
import { WorkspaceRepository } from "../workspace/workspace-repository.ts";
import { HealthRecorder } from "./health-recorder.ts";
import { HealthRepository } from "./health-repository.ts";
import { SilenceRepository } from "./silence-repository.ts";
import { getWebhookHealth } from "./webhook-health.ts";

describe("webhook health counts", () => {
  let mongo: MongoHandles | undefined;
  afterAll(async () => mongo?.close());

  it("never undercount while a batch is being flushed, however reads and flushes interleave", async () => {
    mongo = await connectMongo(shared.mongoUri, uniqueName("test"), "health-test");
    const workspaces = new WorkspaceRepository(mongo.db);
    // A slow database write widens the window in which a batch is neither pending nor stored.
    const health = new (class extends HealthRepository {
      override async add(...args: Parameters<HealthRepository["add"]>) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        return await super.add(...args);
      }
    })(mongo.db);
    const recorder = new HealthRecorder(health, createLogger({}, "error"));
    const workspaceId = uniqueName("ws");
    await workspaces.save(workspaceId, [], 0, new Date());
    const deps = {
      workspaces,
      health,
      recorder,
      inspect: () => ({ keyId: "test", decryptable: true }),
      inspectApiKey: () => ({ keyId: "test", decryptable: true }),
      silences: new SilenceRepository(mongo.db),
      silenceMs: 60_000,
      now: () => new Date(),
    };

    let recorded = 0;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 3; i++, recorded++) recorder.record(workspaceId, "bad_signature", new Date());
      const flushing = recorder.flush(); // a batch in flight while the read below runs
      const read = await getWebhookHealth(deps, workspaceId);
      expect(read.counts.bad_signature, `round ${round}`).toBe(recorded);
      await flushing;
    }
    await recorder.stop();
    expect((await getWebhookHealth(deps, workspaceId)).counts.bad_signature).toBe(recorded);
  });
});
