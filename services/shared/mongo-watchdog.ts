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
 * connected again. Repositories keep their `Db`: a reconnected client serves
 * it as before.
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
  now?: () => number;
}

/** Watches the client's heartbeats and reconnects it when one never ends. */
export function watchMongoMonitor(client: MongoClient, log: Logger | undefined, options: WatchdogOptions): MongoWatchdog {
  const now = options.now ?? Date.now;
  const running = new Map<string, number>(); // server address -> when its heartbeat started
  let restarting = false;
  let stopped = false;
  let restarts = 0;
  /** A restart closed the client but could not connect it again yet. */
  let needsConnect = false;

  client.on("serverHeartbeatStarted", (event) => running.set(event.connectionId, now()));
  client.on("serverHeartbeatSucceeded", (event) => running.delete(event.connectionId));
  client.on("serverHeartbeatFailed", (event) => running.delete(event.connectionId));

  const restart = async (address: string, ranMs: number) => {
    restarting = true;
    restarts++;
    log?.warn("database monitor stuck, reconnecting the client", { address, heartbeatRunningMs: ranMs });
    running.clear();
    try {
      await client.close();
      if (!stopped) await client.connect();
      log?.info("database client reconnected", { address });
    } catch (error) {
      // Not reachable yet: operations keep failing as transient until a later check connects.
      log?.warn("database client reconnect failed, will retry", { address, error });
      needsConnect = !stopped;
    } finally {
      restarting = false;
    }
  };

  const check = () => {
    if (restarting || stopped) return;
    if (needsConnect) {
      needsConnect = false;
      restarting = true;
      void client
        .connect()
        .then(() => log?.info("database client reconnected"))
        .catch(() => (needsConnect = !stopped))
        .finally(() => (restarting = false));
      return;
    }
    for (const [address, startedAt] of running) {
      const ranMs = now() - startedAt;
      if (ranMs > options.stuckAfterMs) return void restart(address, ranMs);
    }
  };
  const timer = setInterval(check, options.checkEveryMs ?? 1000);
  timer.unref?.();

  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
    get restarts() {
      return restarts;
    },
  };
}
