/**
 * Each instance's reconciliation worker: it takes running runs nobody works on (new ones, and those of an
 * instance that died: their lease ran out) one at a time and works on them, and every
 * RECONCILE_SWEEP_SECONDS starts the automatic sweep of the workspaces with a Resend API key: the sends
 * registered more than RECONCILE_AFTER_MINUTES ago, since the last sweep, that still have no final
 * status. Several instances share the work through the run store's leases; none runs a run twice.
 */
import type { Logger } from "../../shared/log.ts";
import type { ApiKeyRepository } from "../api-key-repository.ts";
import type { ReconcileSettings } from "./reconcile-settings.ts";
import type { ReconciliationRun, RunRepository, RunTrigger } from "./run-repository.ts";
import { startRun, type StartRunDeps } from "./start-run.ts";
import { workOnRun, type WorkOnRunDeps } from "./work-on-run.ts";

export interface RunWorkerDeps extends Omit<WorkOnRunDeps, "stopping" | "leaseMs" | "apiKeys"> {
  apiKeys: Pick<ApiKeyRepository, "find" | "workspacesWithKey">;
  settings: ReconcileSettings;
  /** This instance's name in the leases it holds. */
  owner: string;
  log: Logger;
  /** Told of every run this instance finished (metrics). */
  onFinished?(trigger: RunTrigger, outcome: "succeeded" | "failed"): void;
}

export class RunWorker {
  readonly #deps: RunWorkerDeps;
  readonly #stopping = new AbortController();
  #wakeUp: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  /** The run this instance works on now. */
  #current: ReconciliationRun | undefined;

  constructor(deps: RunWorkerDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#loop = this.#work();
    this.#sweepTimer = setInterval(() => void this.sweep().catch((error) => this.#deps.log.warn("reconciliation sweep failed, will retry", { error })), this.#deps.settings.sweepEveryMs);
  }

  /** Looks for work now (a run was just started here). */
  wake(): void {
    this.#wakeUp?.();
  }

  /**
   * Stops, letting go of the run in hand so another instance resumes it at once. The send being looked up
   * may wait on Resend (a 429's retry-after can be minutes): after 3 s the lease is given up without it, and
   * what that send would have saved is checked again by whoever resumes.
   */
  async stop(): Promise<void> {
    clearInterval(this.#sweepTimer);
    this.#stopping.abort();
    this.wake();
    const ended = await Promise.race([this.#loop?.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 3000))]);
    if (!ended && this.#current) await this.#deps.runs.release(this.#current).catch(() => undefined);
  }

  get runs(): RunRepository {
    return this.#deps.runs;
  }

  /** What starting a run needs, this worker woken when one starts. */
  get startDeps(): StartRunDeps {
    return { ...this.#deps, wake: () => this.wake() };
  }

  async #work(): Promise<void> {
    const { runs, settings, log, owner } = this.#deps;
    while (!this.#stopping.signal.aborted) {
      try {
        const run = await runs.claim(owner, this.#deps.now(), settings.leaseMs);
        if (run) {
          log.info("reconciliation run taken", { workspaceId: run.workspaceId, runId: run.runId, trigger: run.trigger, resumedAt: run.checked });
          this.#current = run;
          const outcome = await workOnRun({ ...this.#deps, leaseMs: settings.leaseMs, stopping: this.#stopping.signal }, run).finally(() => (this.#current = undefined));
          log.info("reconciliation run left", { workspaceId: run.workspaceId, runId: run.runId, outcome });
          if (outcome === "succeeded" || outcome === "failed") this.#deps.onFinished?.(run.trigger, outcome);
          continue;
        }
      } catch (error) {
        log.warn("reconciliation worker failed, will retry", { error });
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, settings.pollEveryMs);
        this.#wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wakeUp = undefined;
    }
  }

  /**
   * One sweep: for each workspace with a Resend API key, a run over the unsettled sends registered between
   * the previous sweep's end and RECONCILE_AFTER_MINUTES ago (registered, not sent: a send registered late
   * with an old sent time is still swept once). Its run id is derived from where it starts, so
   * two instances sweeping at once start it once, and a sweep that started its run but died before moving
   * the mark on moves it on the next time.
   */
  async sweep(): Promise<void> {
    const { runs, apiKeys, settings, now } = this.#deps;
    const untilUs = Math.floor((now() - settings.afterMs) * 1000);
    for (const workspaceId of await apiKeys.workspacesWithKey("resend")) {
      const fromUs = await runs.sweptUntil(workspaceId);
      if (fromUs !== undefined && fromUs >= untilUs) continue;
      const runId = `sweep-${fromUs ?? 0}`;
      const started = await startRun(this.startDeps, {
        workspaceId,
        runId,
        trigger: "sweep",
        selection: { ...(fromUs !== undefined ? { recordedSinceUs: fromUs } : {}), recordedUntilUs: untilUs, unsettledOnly: true },
        skipWhenEmpty: true,
      });
      if (started.runId !== runId) continue; // another run of the workspace is running: sweep next time
      // An empty window stores no run; a started (or earlier, interrupted) run covers up to its own end.
      const run = started.empty ? undefined : await runs.get(workspaceId, runId);
      await runs.advanceSweep(workspaceId, fromUs, run?.selection.recordedUntilUs ?? untilUs);
    }
  }
}
