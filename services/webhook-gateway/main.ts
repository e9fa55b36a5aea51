/**
 * Entry point: `node services/webhook-gateway/main.ts` (or `deno run -A`). With GATEWAY_PROCESSES above 1 (the
 * default on Node.js: one per core) this process supervises that many workers sharing the port, each the whole
 * gateway (services/shared/worker-processes.ts).
 */
import cluster from "node:cluster";
import { loadBaseConfig, type BaseConfig } from "../shared/config.ts";
import { createLogger } from "../shared/log.ts";
import { exitStartupFailed, runMain } from "../shared/main.ts";
import { startService } from "../shared/service-host.ts";
import { canRunWorkerProcesses, reportWorkerReady, superviseWorkers } from "../shared/worker-processes.ts";
import { gatewayService, loadGatewaySettings, type GatewaySettings } from "./service.ts";

const name = "webhook-gateway";

/** One process serving the port: the whole gateway (alone, or as one of the workers). */
const serve = () =>
  runMain(name, async () => {
    const service = await startService(gatewayService(loadGatewaySettings()), loadBaseConfig());
    reportWorkerReady();
    return service;
  });

/** The settings, or exit as any start-up with a malformed variable does. */
function settingsOrExit(): { base: BaseConfig; settings: GatewaySettings } {
  try {
    return { base: loadBaseConfig(), settings: loadGatewaySettings() };
  } catch (error) {
    exitStartupFailed(name, error);
  }
}

if (canRunWorkerProcesses && cluster.isPrimary) {
  const { base, settings } = settingsOrExit();
  if (settings.processes > 1) {
    const log = createLogger({ service: name, role: "primary" }, base.logLevel);
    log.info("starting worker processes", { count: settings.processes, port: settings.port });
    process.exit(await superviseWorkers({ count: settings.processes, log, drainMs: base.shutdownDrainMs }));
  }
}
await serve();
