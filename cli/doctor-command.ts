/**
 * `ngsreach doctor --workspace W`: the "why are no events appearing?"
 * questions answered without logs — are the services up, can the gateway
 * verify the workspace's webhooks (per provider), when did a verified event
 * last arrive, what was refused in the last 24 h and how to fix it, are the
 * consumers keeping up, did any of the workspace's messages end as dead
 * letters. Each check prints ok/warn/fail with its fix; exit 1 when one fails.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { GetWebhookHealthResponse } from "../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { loadBaseConfig } from "../services/shared/config.ts";
import { createLogger } from "../services/shared/log.ts";
import { connectNats, type NatsHandles } from "../services/shared/nats.ts";
import { isWorkspaceId } from "../services/shared/validation.ts";
import { requireFlag, type CommandLine } from "./command-line.ts";
import { cliToken, isUnreachable, serviceUrl } from "./endpoints.ts";
import { printJson } from "./output.ts";
import { settingsClient } from "./secret-command.ts";
import { UsageError } from "./usage-error.ts";
import { check, worst, type Check } from "./doctor/check.ts";
import { consumersChecks } from "./doctor/consumers-check.ts";
import { credentialsCheck, noSettingsCheck } from "./doctor/credentials-check.ts";
import { deadLettersCheck } from "./doctor/dead-letters-check.ts";
import { lastEventCheck, lastStoredEvent, type LastStoredEvent } from "./doctor/last-event-check.ts";
import { rejectionsCheck } from "./doctor/rejections-check.ts";
import { servicesChecks } from "./doctor/services-check.ts";

/** The workspace's webhook health, or the check saying why it could not be read. */
async function webhookHealth(line: CommandLine, workspaceId: string): Promise<GetWebhookHealthResponse | Check> {
  try {
    return await settingsClient(line).getWebhookHealth({ workspaceId });
  } catch (error) {
    if (error instanceof ConnectError && error.code === Code.NotFound) return noSettingsCheck(workspaceId);
    const reason = isUnreachable(error) ? "the gateway does not answer" : ConnectError.from(error).rawMessage;
    return check("credentials", "fail", `cannot read the workspace's webhook health: ${reason}`, {
      fixes: ["see the webhook-gateway check; with INTERNAL_TOKEN set, give the command line its token (cli:<token>)"],
    });
  }
}

/** A check that needs NATS, run only once connected; a failure of its own becomes a fail naming it. */
async function guarded(name: string, run: () => Promise<Check | Check[]>): Promise<Check[]> {
  try {
    return [await run()].flat();
  } catch (error) {
    return [check(name, "fail", `could not be checked: ${(error as Error).message}`, { fixes: ["see the NATS check and the services' checks"] })];
  }
}

/** What NATS says: the workspace's newest stored event, consumer lag and dead letters. */
async function natsChecks(line: CommandLine, workspaceId: string): Promise<{ checks: Check[]; lastStored?: LastStoredEvent }> {
  const natsUrl = loadBaseConfig(line.env).natsUrl;
  let nats: NatsHandles;
  try {
    nats = await connectNats(natsUrl, "ngsreach-doctor", createLogger({}, "error"));
  } catch {
    return {
      checks: [check("nats", "fail", `cannot connect to NATS at ${natsUrl}`, { fixes: ["start NATS, or set NATS_URL to the servers the services use"] })],
    };
  }
  try {
    const lastStored = await lastStoredEvent(nats, workspaceId).catch(() => undefined);
    const checks = [
      check("nats", "ok", `connected to ${natsUrl}`),
      ...(await guarded("consumers", () => consumersChecks(nats, workspaceId))),
      ...(await guarded("dead letters", () => deadLettersCheck(nats, workspaceId))),
    ];
    return { checks, lastStored };
  } finally {
    await nats.nc.close();
  }
}

const isCheck = (value: GetWebhookHealthResponse | Check): value is Check => "summary" in value;

/** Every check, in the order a reader follows an event: services, credentials, arrivals, refusals, processing. */
export async function runDoctor(line: CommandLine, workspaceId: string): Promise<Check[]> {
  const [services, health, fromNats] = await Promise.all([servicesChecks(line.env), webhookHealth(line, workspaceId), natsChecks(line, workspaceId)]);
  const [natsCheck, ...processing] = fromNats.checks;
  const gatewayUrl = serviceUrl("webhook-gateway", line.env);
  const fromHealth = isCheck(health)
    ? [health, lastEventCheck(workspaceId, gatewayUrl, undefined, fromNats.lastStored)]
    : [credentialsCheck(workspaceId, health), lastEventCheck(workspaceId, gatewayUrl, health, fromNats.lastStored), rejectionsCheck(workspaceId, health)];
  return [...services, natsCheck!, ...fromHealth, ...processing];
}

const statusWidth = 4;

function print(workspaceId: string, checks: readonly Check[]): void {
  const nameWidth = Math.max(...checks.map((c) => c.name.length));
  const indent = " ".repeat(2 + statusWidth + 2 + nameWidth + 2);
  console.log(`ngsreach doctor: workspace ${workspaceId}`);
  for (const c of checks) {
    console.log(`  ${c.status.padEnd(statusWidth)}  ${c.name.padEnd(nameWidth)}  ${c.summary}`);
    for (const detail of c.details) console.log(`${indent}${detail}`);
    for (const fix of c.fixes) console.log(`${indent}fix: ${fix}`);
  }
  const count = (status: Check["status"]) => checks.filter((c) => c.status === status).length;
  const verdict = worst(checks.map((c) => c.status)) === "fail" ? "something is wrong" : "nothing is wrong";
  console.log(`${verdict}: ${count("fail")} failed, ${count("warn")} warning(s), ${count("ok")} ok`);
}

export async function doctorCommand(line: CommandLine): Promise<void> {
  const workspaceId = requireFlag(line, "workspace");
  if (!isWorkspaceId(workspaceId)) throw new UsageError("--workspace must match [A-Za-z0-9_-]{1,64} (as in the webhook URL's workspaceId)");
  cliToken(line.env); // an INTERNAL_TOKEN the command cannot use is a usage mistake, not a failed check
  const checks = await runDoctor(line, workspaceId);
  if (line.flags.json) printJson({ workspaceId, status: worst(checks.map((c) => c.status)), checks });
  else print(workspaceId, checks);
  if (checks.some((c) => c.status === "fail")) process.exitCode = 1;
}
