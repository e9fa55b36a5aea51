/** Entry point: `node services/delivery-status/main.ts` (or `deno run -A`). */
import { loadBaseConfig } from "../shared/config.ts";
import { runMain } from "../shared/main.ts";
import { startService } from "../shared/service-host.ts";
import { deliveryStatusService, loadDeliveryStatusSettings } from "./service.ts";

await runMain("delivery-status", () => startService(deliveryStatusService(loadDeliveryStatusSettings()), loadBaseConfig()));
