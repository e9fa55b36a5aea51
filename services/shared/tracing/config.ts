/**
 * Tracing configuration, from the standard OpenTelemetry variables only
 * (opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables):
 * no endpoint means no tracing at all.
 */
import { ConfigError, envReader, type Env } from "../config.ts";

export type OtlpProtocol = "http/protobuf" | "http/json";
export type SamplerName =
  | "always_on"
  | "always_off"
  | "traceidratio"
  | "parentbased_always_on"
  | "parentbased_always_off"
  | "parentbased_traceidratio";

const samplerNames: readonly SamplerName[] = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
];

export interface TracingConfig {
  /** Where spans are posted (an OTLP/HTTP traces URL); undefined: tracing is off and nothing is registered. */
  readonly tracesUrl: string | undefined;
  readonly protocol: OtlpProtocol;
  /** OTEL_SERVICE_NAME; undefined: the service's own name ("webhook-gateway", ...). */
  readonly serviceName: string | undefined;
  readonly sampler: SamplerName;
  /** OTEL_TRACES_SAMPLER_ARG of the ratio samplers (1 otherwise). */
  readonly samplerRatio: number;
  /** OTEL_BSP_SCHEDULE_DELAY: how long the batch span processor gathers spans before an export. */
  readonly scheduledDelayMs: number;
  /** OTEL_BSP_MAX_QUEUE_SIZE: spans waiting for export beyond this are dropped (and counted in a warning). */
  readonly maxQueueSize: number;
}

/**
 * Reads OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as given) or OTEL_EXPORTER_OTLP_ENDPOINT (`/v1/traces`
 * appended), OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER[_ARG],
 * OTEL_BSP_SCHEDULE_DELAY and OTEL_BSP_MAX_QUEUE_SIZE; OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none
 * turn tracing off whatever the endpoint. The exporter itself reads the OTLP headers, timeout,
 * compression and certificate variables.
 */
export function loadTracingConfig(env: Env = process.env): TracingConfig {
  const read = envReader(env);
  const disabled = read.oneOf("OTEL_SDK_DISABLED", "false", ["true", "false"] as const) === "true";
  // Only OTLP is built in; "console" or "zipkin" would silently export nothing, so they stop start-up.
  const exporter = read.oneOf("OTEL_TRACES_EXPORTER", "otlp", ["otlp", "none"] as const);
  const specific = read.optionalString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const general = read.optionalString("OTEL_EXPORTER_OTLP_ENDPOINT");
  let tracesUrl: string | undefined;
  if (specific !== undefined) tracesUrl = read.url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", specific, ["http:", "https:"]);
  else if (general !== undefined) tracesUrl = `${read.url("OTEL_EXPORTER_OTLP_ENDPOINT", general, ["http:", "https:"]).replace(/\/+$/, "")}/v1/traces`;
  const protocols = ["http/protobuf", "http/json"] as const;
  const protocolVariable = read.optionalString("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ? "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" : "OTEL_EXPORTER_OTLP_PROTOCOL";
  if (read.optionalString(protocolVariable) === "grpc") {
    throw new ConfigError(protocolVariable, "grpc is not built in; use http/protobuf (the default) or http/json, e.g. an OpenTelemetry Collector's port 4318");
  }
  const sampler = read.oneOf("OTEL_TRACES_SAMPLER", "parentbased_always_on", samplerNames);
  return Object.freeze({
    tracesUrl: disabled || exporter === "none" ? undefined : tracesUrl,
    protocol: read.oneOf(protocolVariable, "http/protobuf", protocols),
    serviceName: read.optionalString("OTEL_SERVICE_NAME"),
    sampler,
    samplerRatio: sampler.endsWith("traceidratio") ? ratio(read.optionalString("OTEL_TRACES_SAMPLER_ARG")) : 1,
    scheduledDelayMs: read.integer("OTEL_BSP_SCHEDULE_DELAY", 5000, 1, 600_000),
    maxQueueSize: read.integer("OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1, 1_000_000),
  });
}

function ratio(value: string | undefined): number {
  if (value === undefined) return 1;
  const parsed = Number(value);
  if (!/^\d*\.?\d+(e-?\d+)?$/i.test(value) || !(parsed >= 0 && parsed <= 1)) {
    throw new ConfigError("OTEL_TRACES_SAMPLER_ARG", `expected a ratio from 0 to 1, got "${value}"`);
  }
  return parsed;
}
