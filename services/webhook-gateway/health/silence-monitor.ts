/**
 * Looks for silent workspaces (silence.ts) every few seconds to a minute and announces each silence once
 * with a WebhookSilence event: the document remembers the start already announced, so a silence that
 * lasts is not published again at every pass (and a second instance, or a pass after a crash between
 * the publish and that note, publishes the same message id, which JetStream drops).
 */
import type { Logger } from "../../shared/log.ts";
import { mapLimited } from "../../shared/map-limited.ts";
import { silentSince } from "./silence.ts";
import type { PublishSilence } from "./silence-events.ts";
import type { SilenceRepository, WorkspaceSilence } from "./silence-repository.ts";

export interface SilenceMonitorDeps {
  silences: Pick<SilenceRepository, "all" | "markAnnounced">;
  lastAcceptedAt(workspaceId: string): Promise<Date | undefined>;
  publish: PublishSilence;
  silenceMs: number;
  now(): Date;
  log: Logger;
}

export interface SilenceCheck {
  /** Workspaces silent at this pass. */
  silent: number;
  /** Silences announced by this pass. */
  announced: number;
  /** Workspaces this pass could not check (read or publish failed; the next pass tries again). */
  failed: number;
}

const pageSize = 500;

/** One pass over every workspace's silence document. */
export async function checkSilences(deps: SilenceMonitorDeps): Promise<SilenceCheck> {
  const totals: SilenceCheck = { silent: 0, announced: 0, failed: 0 };
  let page: WorkspaceSilence[] = [];
  const checkPage = async () => {
    const outcomes = await mapLimited(page, 8, (silence) => checkOne(deps, silence));
    for (const outcome of outcomes) {
      if (outcome === "failed") totals.failed++;
      if (outcome === "silent" || outcome === "announced") totals.silent++;
      if (outcome === "announced") totals.announced++;
    }
    page = [];
  };
  for await (const silence of deps.silences.all()) {
    // A workspace with no send after its last webhook cannot be silent: no need to read its last webhook.
    if (!silence.state.oldestUnansweredSendAt && !silence.state.newestUnansweredSendAt) continue;
    page.push(silence);
    if (page.length >= pageSize) await checkPage();
  }
  await checkPage();
  return totals;
}

async function checkOne(deps: SilenceMonitorDeps, silence: WorkspaceSilence): Promise<"quiet" | "silent" | "announced" | "failed"> {
  const { workspaceId } = silence;
  try {
    const lastAcceptedAt = await deps.lastAcceptedAt(workspaceId);
    const now = deps.now();
    const since = silentSince(silence.state, lastAcceptedAt, now, deps.silenceMs);
    if (!since) return "quiet";
    if (silence.announcedSince?.getTime() === since.getTime()) return "silent";
    await deps.publish({ workspaceId, since, lastAcceptedAt, detectedAt: now });
    await deps.silences.markAnnounced(workspaceId, since);
    deps.log.warn("webhooks silent: sends recorded and no verified webhook since; announced for reconciliation", {
      workspaceId,
      since: since.toISOString(),
      lastAcceptedAt: lastAcceptedAt?.toISOString(),
    });
    return "announced";
  } catch (error) {
    deps.log.warn("could not check a workspace for webhook silence; the next pass retries", { workspaceId, error });
    return "failed";
  }
}

export interface RunningSilenceMonitor {
  stop(): Promise<void>;
}

/** Runs a pass every `intervalMs` (one at a time); `onPass` gets each completed pass. */
export function startSilenceMonitor(deps: SilenceMonitorDeps, intervalMs: number, onPass: (check: SilenceCheck) => void): RunningSilenceMonitor {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  const pass = async () => {
    try {
      onPass(await checkSilences(deps));
    } catch (error) {
      deps.log.warn("webhook silence pass failed (listing the workspaces); the next pass retries", { error });
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = pass().finally(schedule);
    }, intervalMs);
    timer.unref?.();
  };
  schedule();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
