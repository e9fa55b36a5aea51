/**
 * Live statistics for WatchCampaignStats. After each change the ingest path
 * publishes an empty notification on `live.stats.<ws>.<campaign token>` (core
 * NATS, every instance hears it); a watch coalesces notifications to at most
 * one push per campaign per interval and always pushes the latest full state.
 * A lost notification only delays a push until the next change; a reconnect
 * starts with a snapshot.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { publishLive, subscribeLive } from "../shared/live.ts";

/** Subject of a campaign's change notifications (campaign ids may hold any character, so base64url). */
export function liveSubject(workspaceId: string, campaignId: string): string {
  return `live.stats.${workspaceId}.${Buffer.from(campaignId, "utf8").toString("base64url") || "_"}`;
}

/** The subjects of every campaign of a workspace (what a listener to all of its changes subscribes to). */
export function liveSubjectsOf(workspaceId: string): string {
  return `live.stats.${workspaceId}.*`;
}

/** The campaign id a liveSubject names. */
export function campaignOfLiveSubject(subject: string): string {
  const token = subject.slice(subject.lastIndexOf(".") + 1);
  return token === "_" ? "" : Buffer.from(token, "base64url").toString("utf8");
}

/** Publishes "this campaign changed". */
export function notifyCampaignChanged(nc: NatsConnection, workspaceId: string, campaignId: string): void {
  publishLive(nc, liveSubject(workspaceId, campaignId), new Uint8Array());
}

/**
 * Clamps min_interval_ms: 0 -> 500, below 100 -> 100, above 60000 -> 60000. The default keeps a busy
 * campaign's push within a second of its change (window plus the stats read; bench/watch measured pushes
 * up to 1.1 s late with a 1000 ms window) while still coalescing to two pushes a second.
 */
export function watchInterval(requested: number): number {
  if (requested === 0) return 500;
  return Math.min(60_000, Math.max(100, requested));
}

/**
 * Yields each campaign id once at start (snapshot), then again whenever it
 * changed, at most once per `intervalMs` per campaign, until `signal` aborts.
 */
export async function* watchCampaigns(
  nc: NatsConnection,
  workspaceId: string,
  campaignIds: string[],
  intervalMs: number,
  signal: AbortSignal,
): AsyncGenerator<string> {
  const queue: string[] = [];
  const queued = new Set<string>();
  const lastPush = new Map<string, number>();
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  let wake: (() => void) | undefined;
  const enqueue = (id: string) => {
    if (queued.has(id)) return;
    queued.add(id);
    queue.push(id);
    wake?.();
  };
  const schedule = (id: string) => {
    if (timers.has(id) || queued.has(id)) return;
    const delay = Math.max(0, (lastPush.get(id) ?? 0) + intervalMs - Date.now());
    timers.set(
      id,
      setTimeout(() => {
        timers.delete(id);
        enqueue(id);
      }, delay),
    );
  };
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort, { once: true });
  // Subscribe before the snapshot so no change between the two is missed.
  for (const id of campaignIds) {
    void (async () => {
      for await (const _ of subscribeLive(nc, liveSubject(workspaceId, id), signal)) schedule(id);
    })().catch(() => {});
  }
  await nc.flush().catch(() => {});
  for (const id of campaignIds) enqueue(id);
  try {
    while (!signal.aborted) {
      const id = queue.shift();
      if (id === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      queued.delete(id);
      lastPush.set(id, Date.now());
      yield id;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    for (const timer of timers.values()) clearTimeout(timer);
  }
}
