/**
 * Where the command line finds the four services and how it calls them: the
 * same variables as `npm start` (GATEWAY_PORT, DELIVERY_STATUS_PORT, ...), or a
 * whole URL per service (GATEWAY_URL, DELIVERY_STATUS_URL, ...) when they run
 * elsewhere, and INTERNAL_TOKEN's token for the command line.
 */
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";
import { defaultPorts, parseInternalTokens, type Env } from "../services/shared/config.ts";
import { UsageError } from "./usage-error.ts";

/** The four deployables, by the names their logs and `npm start` use. */
export const serviceNames = ["webhook-gateway", "delivery-status", "campaign-stats", "suppression"] as const;
export type ServiceName = (typeof serviceNames)[number];

const variables: Record<ServiceName, { url: string; port: string; fallback: number }> = {
  "webhook-gateway": { url: "GATEWAY_URL", port: "GATEWAY_PORT", fallback: defaultPorts.gateway },
  "delivery-status": { url: "DELIVERY_STATUS_URL", port: "DELIVERY_STATUS_PORT", fallback: defaultPorts.deliveryStatus },
  "campaign-stats": { url: "CAMPAIGN_STATS_URL", port: "CAMPAIGN_STATS_PORT", fallback: defaultPorts.campaignStats },
  suppression: { url: "SUPPRESSION_URL", port: "SUPPRESSION_PORT", fallback: defaultPorts.suppression },
};

/** The variable that says where a service is (named in "cannot reach" messages). */
export const urlVariableOf = (service: ServiceName): string => variables[service].url;

/** A service's base URL: its *_URL variable, else loopback on its *_PORT (the defaults of `npm start`). */
export function serviceUrl(service: ServiceName, env: Env = process.env): string {
  const { url, port, fallback } = variables[service];
  return env[url] || `http://127.0.0.1:${env[port] || fallback}`;
}

/** The bearer token to send: INTERNAL_TOKEN's only token or, of several named ones, the one named "cli". */
export function cliToken(env: Env = process.env): string | undefined {
  const tokens = parseInternalTokens(env.INTERNAL_TOKEN);
  if (tokens.length <= 1) return tokens[0]?.token;
  const own = tokens.find((entry) => entry.name === "cli");
  if (!own) throw new UsageError('INTERNAL_TOKEN names several tokens but none "cli" (add cli:<token>, so audit entries name the command line)');
  return own.token;
}

/** Socket errors that mean nothing answered at the address (as opposed to a service answering Unavailable). */
const unreachableCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "EAI_AGAIN"]);

/** True when a call failed because nothing answered at the service's URL. */
export function isUnreachable(error: unknown): boolean {
  if (!(error instanceof ConnectError) || error.code !== Code.Unavailable) return false;
  const cause = error.cause as { code?: unknown } | undefined;
  return typeof cause?.code === "string" && unreachableCodes.has(cause.code);
}

/**
 * A client of one service's RPCs over the Connect protocol (HTTP/1.1, as `curl` would), with the
 * command line's token. "Nothing listens there" becomes an Unavailable error naming the service and the
 * variable that says where it is; it keeps the socket error as its cause, so isUnreachable still tells.
 */
export function serviceClient<S extends DescService>(descriptor: S, service: ServiceName, env: Env = process.env): Client<S> {
  const baseUrl = serviceUrl(service, env);
  const token = cliToken(env);
  const interceptors: Interceptor[] = [
    (next) => async (req) => {
      if (token) req.header.set("authorization", `Bearer ${token}`);
      try {
        return await next(req);
      } catch (error) {
        if (!isUnreachable(error)) throw error;
        const message = `cannot reach ${service} at ${baseUrl} (is it running? ${urlVariableOf(service)} says where)`;
        throw new ConnectError(message, Code.Unavailable, undefined, undefined, (error as ConnectError).cause);
      }
    },
  ];
  return createClient(descriptor, createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors }));
}
