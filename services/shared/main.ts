/**
 * Entry-point helper: start a service, log a clear message and exit non-zero
 * when start-up fails, and on SIGTERM/SIGINT drain and exit.
 */
import type { RunningService } from "./service-host.ts";

/** Says why the start-up failed, as every entry point does, and exits 1. */
export function exitStartupFailed(name: string, error: unknown): never {
  process.stderr.write(`${name}: start-up failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

/** Runs `start`, then waits for a termination signal to stop it. */
export async function runMain(name: string, start: () => Promise<RunningService>): Promise<void> {
  let service: RunningService;
  try {
    service = await start();
  } catch (error) {
    exitStartupFailed(name, error);
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${name}: ${signal}, draining\n`);
    const force = setTimeout(() => {
      process.stderr.write(`${name}: not stopped within SHUTDOWN_DRAIN_SECONDS, exiting\n`);
      process.exit(1);
    }, service.context.config.shutdownDrainMs);
    try {
      await service.stop();
      clearTimeout(force);
      process.exit(0);
    } catch (error) {
      process.stderr.write(`${name}: shutdown failed: ${String(error)}\n`);
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}
