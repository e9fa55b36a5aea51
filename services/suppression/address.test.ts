import { describe, expect, it } from "vitest";
import { normaliseAddress, subscriberKey } from "./address.ts";

describe("normaliseAddress", () => {
  it("trims and lower-cases the domain but keeps the local part's case", () => {
    expect(normaliseAddress("  Ann.Lee@Example.COM \n")).toBe("Ann.Lee@example.com");
  });

  it("treats addresses differing only in domain case as the same key", () => {
    expect(normaliseAddress("a@EXAMPLE.com")).toBe(normaliseAddress("a@example.COM"));
  });

  it("rejects strings that are not address-like", () => {
    for (const bad of ["", "   ", "no-at-sign", "@example.com", "ann@", "a b@example.com", "Ann <ann@x.com>", "a@b@c"]) {
      expect(normaliseAddress(bad), bad).toBeUndefined();
    }
  });

  it("rejects absurdly long input", () => {
    expect(normaliseAddress(`${"a".repeat(320)}@x.com`)).toBeUndefined();
  });

  it("composes the workspace-scoped key", () => {
    expect(subscriberKey("ws_1", "a@x.com")).toBe("ws_1:a@x.com");
  });
});
