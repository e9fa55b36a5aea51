/** Entry point: `node services/suppression/main.ts` (or `deno run -A`). */
import { loadBaseConfig } from "../shared/config.ts";
import { runMain } from "../shared/main.ts";
import { startService } from "../shared/service-host.ts";
import { suppressionService, loadSuppressionSettings } from "./service.ts";

await runMain("suppression", () => startService(suppressionService(loadSuppressionSettings()), loadBaseConfig()));
