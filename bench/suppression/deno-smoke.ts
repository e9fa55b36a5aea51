/**
 * Smoke check that the suppression service runs on Deno from the same source:
 *   node_modules/.bin/deno run -A bench/suppression/deno-smoke.ts
 * Starts private NATS + FerretDB, the service, suppresses an address through
 * a Resend event and reads it back over gRPC.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SuppressionService } from "../../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { loadBaseConfig } from "../../services/shared/config.ts";
import { startService } from "../../services/shared/service-host.ts";
import { suppressionService } from "../../services/suppression/service.ts";
import { publishResendEvent } from "../../test/publish-events.ts";
import { freePort, startFerretDb, startNatsServer } from "../../tools/local-servers.ts";

const dir = mkdtempSync(join(tmpdir(), "ngsreach-deno-smoke-"));
const ferret = await startFerretDb({ port: await freePort(), dataDir: join(dir, "ferretdb") });
const nats = await startNatsServer({ port: await freePort(), dataDir: join(dir, "nats") });
try {
  const config = { ...loadBaseConfig({}), natsUrl: nats.url, mongoUri: ferret.url, logLevel: "warn" as const };
  const service = await startService(suppressionService({ port: 0 }), config);
  const client = createClient(SuppressionService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
  await publishResendEvent(service.context.nats.js, "ws_deno", sampleEmailEvent("email.bounced", { emailId: "e1", to: ["deno@x.com"], bounce: { type: "Permanent", subType: "General" } }));
  let suppressed = false;
  for (let i = 0; i < 200 && !suppressed; i++) {
    suppressed = (await client.checkSuppressions({ workspaceId: "ws_deno", emails: ["deno@X.com"] })).results[0]?.suppressed ?? false;
    if (!suppressed) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await service.stop();
  console.log(`runtime: ${typeof (globalThis as { Deno?: unknown }).Deno === "object" ? "Deno" : "Node"}; hard bounce suppressed: ${suppressed}`);
  if (!suppressed) process.exitCode = 1;
} finally {
  await Promise.all([ferret.stop(), nats.stop()]);
  rmSync(dir, { recursive: true, force: true });
}
