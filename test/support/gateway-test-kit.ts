/**
 * Test helpers for the gateway: start it against real servers, send signed
 * webhooks, and read back what JetStream stored.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { fromBinary } from "@bufbuild/protobuf";
import { ResendEventSchema, type ResendEvent } from "../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { WorkspaceSettingsService } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { signedHeaders } from "../../cli/sign.ts";
import { parseInternalTokens, type BaseConfig } from "../../services/shared/config.ts";
import { connectNats, RESEND_EVENTS_STREAM, type NatsHandles } from "../../services/shared/nats.ts";
import { createLogger } from "../../services/shared/log.ts";
import { startService, type RunningService } from "../../services/shared/service-host.ts";
import { testSecretsKey } from "../harness.ts";
import { gatewayService, loadGatewaySettings } from "../../services/webhook-gateway/service.ts";

export interface TestGateway {
  service: RunningService;
  url: string;
  settings: Client<typeof WorkspaceSettingsService>;
  logs: string[];
}

/** Starts a gateway on a free port; `env` overrides gateway variables. */
export async function startGateway(config: BaseConfig, env: Record<string, string> = {}): Promise<TestGateway> {
  const logs: string[] = [];
  const log = createLogger({ service: "webhook-gateway" }, "debug", (line) => logs.push(line));
  const settings = loadGatewaySettings({ GATEWAY_PORT: "0", SECRETS_KEY: testSecretsKey, WEBHOOK_HEALTH_FLUSH_MS: "200", ...env });
  const service = await startService(gatewayService(settings), config, log);
  const url = `http://127.0.0.1:${service.port}`;
  // INTERNAL_TOKEN may name several tokens: the kit calls with the first.
  const token = parseInternalTokens(config.internalToken)[0]?.token;
  const transport = createGrpcTransport({
    baseUrl: url,
    interceptors: token ? [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))] : [],
  });
  return { service, url, settings: createClient(WorkspaceSettingsService, transport), logs };
}

/** POSTs a body to the webhook endpoint with the given headers. */
export async function postWebhook(url: string, workspaceId: string | null, body: string, headers: Record<string, string> = {}) {
  const query = workspaceId === null ? "" : `?workspaceId=${encodeURIComponent(workspaceId)}`;
  const response = await fetch(`${url}/webhooks/resend${query}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

/** POSTs a body signed with `secret` (fresh svix id unless given). */
export function postSigned(url: string, workspaceId: string, secret: string, body: string, options: { id?: string; timestamp?: number } = {}) {
  return postWebhook(url, workspaceId, body, signedHeaders(secret, body, options));
}

/** Every envelope JetStream holds for the workspace, in stream order. */
export async function storedEvents(nats: NatsHandles, workspaceId: string): Promise<ResendEvent[]> {
  const info = await nats.jsm.streams.info(RESEND_EVENTS_STREAM, { subjects_filter: `resend.events.${workspaceId}.>` }).catch(() => undefined);
  const total = Object.values(info?.state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
  if (total === 0) return [];
  const reader = await nats.js.consumers.get(RESEND_EVENTS_STREAM, { filter_subjects: [`resend.events.${workspaceId}.>`] });
  const events: ResendEvent[] = [];
  for await (const msg of await reader.fetch({ max_messages: total, expires: 2000 })) {
    events.push(fromBinary(ResendEventSchema, msg.data));
    if (events.length === total) break;
  }
  return events;
}

/** A NATS connection for reading what the gateway stored. */
export function natsReader(url: string): Promise<NatsHandles> {
  return connectNats(url, "gateway-test-reader", createLogger({}, "error"));
}
