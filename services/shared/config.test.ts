import { describe, expect, it } from "vitest";
import { loadBaseConfig } from "./config.ts";

describe("the shared configuration", () => {
  it("has defaults for every variable", () => {
    const config = loadBaseConfig({});
    expect(config.consumerBatchSize).toBe(64);
    expect(config.internalToken).toBeUndefined();
    expect(config.logLevel).toBe("info");
  });

  it("refuses a malformed value with a message that names the variable", () => {
    expect(() => loadBaseConfig({ CONSUMER_BATCH_SIZE: "0" })).toThrow(/^CONSUMER_BATCH_SIZE: expected 1\.\.256, got 0$/);
    expect(() => loadBaseConfig({ CONSUMER_BATCH_SIZE: "lots" })).toThrow(/^CONSUMER_BATCH_SIZE: expected a whole number/);
    expect(() => loadBaseConfig({ INTERNAL_TOKEN: "short" })).toThrow(/^INTERNAL_TOKEN: must be at least 16 characters$/);
    expect(() => loadBaseConfig({ LOG_LEVEL: "loud" })).toThrow(/^LOG_LEVEL: expected one of debug, info, warn, error/);
    expect(loadBaseConfig({ CONSUMER_BATCH_SIZE: "1" }).consumerBatchSize).toBe(1);
  });

  it("takes NATS_URL as one URL or the comma-separated servers of a cluster, checking every entry", () => {
    expect(loadBaseConfig({}).natsUrl).toBe("nats://127.0.0.1:14222");
    expect(loadBaseConfig({ NATS_URL: "nats://a:4222, nats://b:4222 ,tls://c:4222" }).natsUrl).toBe("nats://a:4222,nats://b:4222,tls://c:4222");
    expect(() => loadBaseConfig({ NATS_URL: "nats://a:4222,b:4222" })).toThrow(/^NATS_URL: expected nats: or tls: URLs, got "b:" \(entry 2\)$/);
    expect(() => loadBaseConfig({ NATS_URL: "nats://a:4222,,nats://c:4222" })).toThrow(/^NATS_URL: not a URL \(entry 2\): ""$/);
    expect(() => loadBaseConfig({ NATS_URL: "http://a:4222" })).toThrow(/^NATS_URL: expected nats: or tls: URLs, got "http:"$/);
    expect(() => loadBaseConfig({ NATS_URL: "nats://a:4222,nats//b" })).toThrow(/^NATS_URL: not a URL \(entry 2\): "nats\/\/b"$/);
  });

  it("takes EVENTS_REPLICAS from 1 to 5, 1 unless set", () => {
    expect(loadBaseConfig({}).eventsReplicas).toBe(1);
    expect(loadBaseConfig({ EVENTS_REPLICAS: "3" }).eventsReplicas).toBe(3);
    expect(() => loadBaseConfig({ EVENTS_REPLICAS: "0" })).toThrow(/^EVENTS_REPLICAS: expected 1\.\.5, got 0$/);
    expect(() => loadBaseConfig({ EVENTS_REPLICAS: "6" })).toThrow(/^EVENTS_REPLICAS: expected 1\.\.5, got 6$/);
  });
});
