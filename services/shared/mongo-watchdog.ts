/**
 * Restarts a MongoDB client whose server monitor has stopped.
 *
 * Why: the driver's monitor sends a heartbeat every few seconds and only
 * after it ends does the server count as reachable again. When the database
 * closes the monitor's connection at the moment a heartbeat is being written
 * (a database restart under load), that heartbeat can wait forever: it never
 * succeeds, never fails, and no further heartbeat is scheduled. Every
 * operation then fails server selection until the process restarts (seen in
 * fault scenario 6: campaign-stats Unavailable for minutes, its log showing a
 * `serverHeartbeatStarted` with no end). A heartbeat is bounded by
 * connectTimeoutMS, so one still running well past that bound is stuck; the
 * client is then closed (which also fails operations stuck the same way) and
 * connected again, retried on every check until the database answers.
 * Repositories keep their `Db`: a reconnected client serves it as before.
 */
import type { MongoClient } from "mongodb";
import type { Logger } from "./log.ts";

export interface MongoWatchdog {
  /** Stops watching (before the client is closed for good). */
  stop(): void;
  /** How many times the client was restarted. */
  readonly restarts: number;
}

export interface WatchdogOptions {
  /** A heartbeat running longer than this is stuck. */
  stuckAfterMs: number;
  /** How often to look. */
  checkEveryMs?: number;
}

/** Watches the client's heartbeats and reconnects it when one never ends. */
export function watchMongoMonitor(client: MongoClient, log: Logger | undefined, options: WatchdogOptions): MongoWatchdog {
  const running = new Map<string, number>(); // server address -> when its heartbeat started
  let state: "watching" | "closed" | "busy" | "stopped" = "watching";
  let restarts = 0;

  client.on("serverHeartbeatStarted", (event) => running.set(event.connectionId, Date.now()));
  client.on("serverHeartbeatSucceeded", (event) => running.delete(event.connectionId));
  client.on("serverHeartbeatFailed", (event) => running.delete(event.connectionId));

  /** Runs one step of a restart; the state after it is `next` unless the watchdog was stopped meanwhile. */
  const step = (work: () => Promise<void>, next: typeof state, onError: typeof state) => {
    state = "busy";
    void work().then(
      () => state !== "stopped" && (state = next),
      () => state !== "stopped" && (state = onError),
    );
  };

  const check = () => {
    if (state === "closed") {
      // Closed by a restart: connect again (the database may still be down; then the next check tries again).
      return step(
        async () => {
          try {
            await client.connect();
          } catch (error) {
            log?.warn("database client reconnect failed, will retry", { error });
            throw error;
          }
          log?.info("database client reconnected");
        },
        "watching",
        "closed",
      );
    }
    if (state !== "watching") return;
    const now = Date.now();
    for (const [address, startedAt] of running) {
      if (now - startedAt <= options.stuckAfterMs) continue;
      restarts++;
      log?.warn("database monitor stuck, reconnecting the client", { address, heartbeatRunningMs: now - startedAt });
      running.clear();
      return step(() => client.close(), "closed", "closed");
    }
  };
  const timer = setInterval(check, options.checkEveryMs ?? 1000);
  timer.unref?.();

  return {
    stop: () => {
      state = "stopped";
      clearInterval(timer);
    },
    get restarts() {
      return restarts;
    },
  };
}
