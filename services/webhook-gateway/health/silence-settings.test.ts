import { describe, expect, it } from "vitest";
import { testSecretsKey } from "../../../test/harness.ts";
import { loadGatewaySettings } from "../service.ts";

const load = (minutes?: string) => loadGatewaySettings({ SECRETS_KEY: testSecretsKey, ...(minutes === undefined ? {} : { RECONCILE_SILENCE_MINUTES: minutes }) });

describe("RECONCILE_SILENCE_MINUTES", () => {
  it("is 30 minutes unless set, and takes fractions of a minute", () => {
    expect(load().silenceMs).toBe(30 * 60_000);
    expect(load("0.05").silenceMs).toBe(3000);
    expect(load("90").silenceMs).toBe(90 * 60_000);
  });

  it("stops start-up, naming the variable, unless it is a positive number", () => {
    for (const bad of ["0", "-5", "abc", "1e3", "0.0000001"]) {
      expect(() => load(bad), bad).toThrow(/^RECONCILE_SILENCE_MINUTES: /);
    }
  });
});
