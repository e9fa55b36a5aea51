import { describe, expect, it } from "vitest";
import { loadTracingConfig } from "./config.ts";

describe("tracing configuration from the standard OTEL_* variables", () => {
  it("is off without an endpoint, and with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none whatever the endpoint", () => {
    expect(loadTracingConfig({}).tracesUrl).toBeUndefined();
    expect(loadTracingConfig({ OTEL_SERVICE_NAME: "x", OTEL_TRACES_SAMPLER: "always_on" }).tracesUrl).toBeUndefined();
    expect(loadTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "true" }).tracesUrl).toBeUndefined();
    expect(loadTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_TRACES_EXPORTER: "none" }).tracesUrl).toBeUndefined();
  });

  it("appends /v1/traces to the general endpoint, takes the traces endpoint as given, and prefers it", () => {
    expect(loadTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }).tracesUrl).toBe("http://collector:4318/v1/traces");
    expect(loadTracingConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://traces.example/otlp" }).tracesUrl).toBe("https://traces.example/otlp");
    expect(
      loadTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://other:4318/v1/traces" }).tracesUrl,
    ).toBe("http://other:4318/v1/traces");
  });

  it("defaults to http/protobuf, parent-based always-on sampling and the service's own name", () => {
    expect(loadTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" })).toMatchObject({
      protocol: "http/protobuf",
      sampler: "parentbased_always_on",
      samplerRatio: 1,
      serviceName: undefined,
    });
    expect(
      loadTracingConfig({
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "gateway-eu",
        OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG: "0.25",
      }),
    ).toMatchObject({ protocol: "http/json", serviceName: "gateway-eu", sampler: "parentbased_traceidratio", samplerRatio: 0.25 });
  });

  it("stops start-up with the variable's name on a value it cannot honour", () => {
    expect(() => loadTracingConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not built in/);
    expect(() => loadTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(() => loadTracingConfig({ OTEL_TRACES_SAMPLER: "jaeger_remote" })).toThrow(/OTEL_TRACES_SAMPLER/);
    expect(() => loadTracingConfig({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "1.5" })).toThrow(/OTEL_TRACES_SAMPLER_ARG/);
    expect(() => loadTracingConfig({ OTEL_TRACES_EXPORTER: "zipkin" })).toThrow(/OTEL_TRACES_EXPORTER/);
  });
});
