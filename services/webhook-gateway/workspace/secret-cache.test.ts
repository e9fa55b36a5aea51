import { describe, expect, it } from "vitest";
import { KnownWorkspaces } from "./known-workspaces.ts";
import { SecretUndecryptableError } from "./secret-box.ts";
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
    expect(await keys.get("nobody")).toEqual({ exists: false, keys: [], credentials: [], undecryptable: [] });
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

  it("never caches what a load that an invalidation overtook read, and starts a new load for later callers", async () => {
    const clock = { now: 0 };
    const releases: (() => void)[] = [];
    let stored = record(new Date(60_000)); // two secrets before the rotation, one after
    let loads = 0;
    const keys = cache(async () => {
      loads++;
      const seen = stored; // what the database held when this load read it
      await new Promise<void>((resolve) => releases.push(resolve));
      return seen;
    }, clock);
    const before = keys.get("ws");
    await new Promise((resolve) => setImmediate(resolve));
    stored = { ...record(), secrets: [{ ...record().secrets[0]!, sealed: "whsec_rotatedRotatedRotatedRotated", fingerprint: "c" }] };
    keys.invalidate("ws"); // the rotation, while the first load is held open
    const after = keys.get("ws");
    expect(loads).toBe(2);
    releases.forEach((release) => release());
    expect((await before).keys).toHaveLength(2);
    expect((await after).keys).toHaveLength(1);
    // The next lookup is a hit on the second load's keys, not the first's.
    expect((await keys.get("ws")).keys).toHaveLength(1);
    expect(loads).toBe(2);
  });

  it("reads keys again on request only when the cached ones are older than the bound", async () => {
    const clock = { now: 0 };
    let loads = 0;
    const keys = cache(async () => (loads++, record()), clock);
    await keys.get("ws");
    clock.now = 200;
    expect(await keys.refreshIfOlder("ws", 250)).toBeUndefined();
    expect(loads).toBe(1);
    clock.now = 251;
    expect((await keys.refreshIfOlder("ws", 250))?.keys).toHaveLength(1);
    expect(loads).toBe(2);
    expect(await keys.refreshIfOlder("ws", 250)).toBeUndefined(); // just loaded
    expect(loads).toBe(2);
  });

  it("never verifies with a previous secret past its expiry, also when the keys are read again", async () => {
    const clock = { now: 0 };
    const keys = cache(async () => record(new Date(1_000)), clock);
    await keys.get("ws");
    clock.now = 1_001;
    expect((await keys.refreshIfOlder("ws", 250))?.keys).toHaveLength(1);
  });

  it("keeps the cached keys when reading them again fails, and asks the database at most once per bound meanwhile", async () => {
    const clock = { now: 0 };
    let loads = 0;
    let down = false;
    const keys = cache(async () => {
      loads++;
      if (down) throw new Error("database unreachable");
      return record();
    }, clock);
    await keys.get("ws");
    down = true;
    clock.now = 1_000;
    await expect(keys.refreshIfOlder("ws", 250)).rejects.toThrow("database unreachable");
    expect(await keys.refreshIfOlder("ws", 250)).toBeUndefined(); // asked 0 ms ago
    expect(loads).toBe(2);
    expect((await keys.get("ws")).keys).toHaveLength(1); // still served from the cache
  });

  it("drops a previous secret from verification once its expiry passes, without a reload", async () => {
    const clock = { now: 0 };
    const keys = cache(async () => record(new Date(1_000)), clock);
    expect((await keys.get("ws")).keys).toHaveLength(2);
    clock.now = 1_001;
    expect((await keys.get("ws")).keys).toHaveLength(1);
  });

  it("keeps a secret it cannot open as undecryptable with its key id, cached like keys (no database read per request)", async () => {
    const clock = { now: 0 };
    let loads = 0;
    const keys = new SecretCache({
      load: async () => (loads++, record(new Date(60_000))),
      open: (_, sealed) => {
        if (sealed.startsWith("whsec_AAAA")) throw new SecretUndecryptableError("lost", "unknown_key");
        return sealed;
      },
      ttlMs: 30_000,
      missTtlMs: 5_000,
      maxEntries: 10,
      now: () => clock.now,
    });
    for (let i = 0; i < 5; i++) {
      const value = await keys.get("ws");
      expect(value.keys).toHaveLength(1);
      expect(value.undecryptable).toEqual([{ keyId: "lost", expiresAtMs: 60_000, provider: "resend" }]);
    }
    expect(loads).toBe(1);
    clock.now = 60_001; // the undecryptable previous secret expired: nothing left to report
    expect((await keys.get("ws")).undecryptable).toEqual([]);
  });

  it("ignores a secret it cannot open once that secret has expired, instead of failing the workspace", async () => {
    const clock = { now: 10_000 };
    const keys = new SecretCache({
      load: async () => record(new Date(5_000)),
      open: (_, sealed) => {
        if (sealed.startsWith("whsec_AAAA")) throw new Error("unknown key");
        return sealed;
      },
      ttlMs: 30_000,
      missTtlMs: 5_000,
      maxEntries: 10,
      now: () => clock.now,
    });
    expect(await keys.get("ws")).toMatchObject({ exists: true, undecryptable: [] });
    expect((await keys.get("ws")).keys).toHaveLength(1);
  });

  it("serves a busy workspace from its cache while it reads its keys again near the end of their lifetime", async () => {
    const clock = { now: 0 };
    const releases: (() => void)[] = [];
    let loads = 0;
    const keys = cache(async () => {
      loads++;
      if (loads > 1) await new Promise<void>((resolve) => releases.push(resolve)); // a read stuck behind a flood's
      return record();
    }, clock);
    await keys.get("ws");
    clock.now = 25_000; // in the last fifth of the 30 s lifetime
    const served = await Promise.race([keys.get("ws"), new Promise((resolve) => setTimeout(() => resolve("waited"), 100))]);
    expect(served).toMatchObject({ exists: true });
    expect(loads).toBe(2);
    await keys.get("ws"); // one read at a time
    expect(loads).toBe(2);
    releases.forEach((release) => release());
    await new Promise((resolve) => setImmediate(resolve));
    clock.now = 40_000; // past the first lifetime: the background read renewed it
    await keys.get("ws");
    expect(loads).toBe(2);
  });

  it("reads ids not known to exist at most so many times a second once every known id was listed, and known ones always", async () => {
    const clock = { now: 0 };
    const read: string[] = [];
    let skipped = 0;
    const known = new KnownWorkspaces(1000);
    const keys = new SecretCache({
      load: async (id) => (read.push(id), id.startsWith("ws") ? record() : undefined),
      open: (_, sealed) => sealed,
      ttlMs: 30_000,
      missTtlMs: 5_000,
      maxEntries: 10_000,
      known,
      unknownReadsPerSecond: 5,
      onLookupSkipped: () => skipped++,
      now: () => clock.now,
    });
    for (let i = 0; i < 10; i++) await keys.get(`early${i}`); // the listing is not done: every miss is read
    expect(read).toHaveLength(10);
    known.add("ws-listed");
    known.markListed();
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => keys.get(`nobody${i}`)));
    expect(answers.every((answer) => !answer.exists)).toBe(true);
    expect(read).toHaveLength(15);
    expect(skipped).toBe(95);
    expect((await keys.get("ws-listed")).exists).toBe(true); // known: read whatever the budget
    keys.invalidate("ws-new"); // announced by the instance that created it
    expect((await keys.get("ws-new")).exists).toBe(true);
    clock.now = 1_000;
    await Promise.all(Array.from({ length: 20 }, (_, i) => keys.get(`later${i}`)));
    expect(read).toHaveLength(17 + 5);
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
