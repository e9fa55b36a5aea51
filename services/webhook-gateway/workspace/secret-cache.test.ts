import { describe, expect, it } from "vitest";
import { SecretCache } from "./secret-cache.ts";
import type { WorkspaceRecord } from "./workspace-repository.ts";

const record = (expiresAt?: Date): WorkspaceRecord => ({
  workspaceId: "ws",
  version: 1,
  updatedAt: new Date(0),
  secrets: [
    { sealed: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", fingerprint: "a", role: "current", createdAt: new Date(0) },
    ...(expiresAt ? [{ sealed: "whsec_AAAAAAAAAAAAAAAAAAAAAAAA", fingerprint: "b", role: "previous" as const, createdAt: new Date(0), expiresAt }] : []),
  ],
});

function cache(load: (id: string) => Promise<WorkspaceRecord | undefined>, clock: { now: number }) {
  return new SecretCache({ load, open: (_, sealed) => sealed, ttlMs: 30_000, missTtlMs: 5_000, maxEntries: 2, now: () => clock.now });
}

describe("the workspace secret cache", () => {
  it("serves hits without loading, and reloads after the TTL even without an invalidation", async () => {
    const clock = { now: 0 };
    let loads = 0;
    const keys = cache(async () => (loads++, record()), clock);
    await keys.get("ws");
    await keys.get("ws");
    expect(loads).toBe(1);
    clock.now = 30_001;
    await keys.get("ws");
    expect(loads).toBe(2);
  });

  it("caches unknown workspaces as misses for a shorter time", async () => {
    const clock = { now: 0 };
    let loads = 0;
    const keys = cache(async () => void loads++, clock);
    expect(await keys.get("nobody")).toEqual({ exists: false, keys: [] });
    await keys.get("nobody");
    expect(loads).toBe(1);
    clock.now = 5_001;
    await keys.get("nobody");
    expect(loads).toBe(2);
  });

  it("shares one load between concurrent misses, and forgets a workspace on invalidation", async () => {
    const clock = { now: 0 };
    let loads = 0;
    const keys = cache(async () => (loads++, await new Promise((r) => setTimeout(r, 20)), record()), clock);
    await Promise.all([keys.get("ws"), keys.get("ws"), keys.get("ws")]);
    expect(loads).toBe(1);
    keys.invalidate("ws");
    await keys.get("ws");
    expect(loads).toBe(2);
  });

  it("drops a previous secret from verification once its expiry passes, without a reload", async () => {
    const clock = { now: 0 };
    const keys = cache(async () => record(new Date(1_000)), clock);
    expect((await keys.get("ws")).keys).toHaveLength(2);
    clock.now = 1_001;
    expect((await keys.get("ws")).keys).toHaveLength(1);
  });

  it("passes a database failure on to the caller (the gateway answers 503) and caches nothing", async () => {
    const clock = { now: 0 };
    let fail = true;
    const keys = cache(async () => {
      if (fail) throw new Error("database unreachable");
      return record();
    }, clock);
    await expect(keys.get("ws")).rejects.toThrow("database unreachable");
    fail = false;
    expect((await keys.get("ws")).exists).toBe(true);
  });
});
