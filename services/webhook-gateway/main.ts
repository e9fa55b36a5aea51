/** Entry point: `node services/webhook-gateway/main.ts` (or `deno run -A`). */
import { loadBaseConfig } from "../shared/config.ts";
import { runMain } from "../shared/main.ts";
import { startService } from "../shared/service-host.ts";
import { gatewayService, loadGatewaySettings } from "./service.ts";

await runMain("webhook-gateway", () => startService(gatewayService(loadGatewaySettings()), loadBaseConfig()));
