import { describe, expect, it } from "vitest";
import { signedHeaders, newWebhookSecret } from "../../../cli/sign.ts";
import { sampleEmailEvent } from "../../../cli/resend-samples.ts";
import { SecretCache } from "../workspace/secret-cache.ts";
import { SecretUndecryptableError } from "../workspace/secret-box.ts";
import { receiveWebhook } from "./receive-webhook.ts";
import { SourceLimiter } from "./source-limiter.ts";

describe("receiving a webhook for a workspace whose secret the gateway cannot decrypt", () => {
  it("answers secret_undecryptable every time and never counts it against the sender's address", async () => {
    const secrets = new SecretCache({
      load: async (workspaceId) => ({
        workspaceId,
        version: 1,
        updatedAt: new Date(),
        secrets: [{ sealed: "gone:sealed", fingerprint: "f", role: "current", createdAt: new Date() }],
      }),
      open: () => {
        throw new SecretUndecryptableError("gone", "unknown_key");
      },
      ttlMs: 60_000,
      missTtlMs: 5_000,
      maxEntries: 10,
    });
    const limiter = new SourceLimiter({ burst: 3, leakPerSecond: 0.001, maxEntries: 10 });
    const body = Buffer.from(JSON.stringify(sampleEmailEvent("email.delivered")));
    const deps = { secrets, limiter, publish: async () => ({ duplicate: false }) };
    for (let i = 0; i < 10; i++) {
      const result = await receiveWebhook(deps, {
        workspaceId: "ws1",
        headers: signedHeaders(newWebhookSecret(), body.toString()),
        body,
        receivedAtMs: Date.now(),
        source: "203.0.113.7",
      });
      expect(result).toMatchObject({ outcome: "secret_undecryptable", undecryptableKeyIds: ["gone"] });
      expect(result.rateLimited).toBeFalsy();
    }
    expect(limiter.isLimited("ws1", "203.0.113.7")).toBe(false);
  });
});
