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
});
