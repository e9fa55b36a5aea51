/** The keyed hash of erased addresses: per workspace, per key, never the address, found again after a key rotation. */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseSecretKeys } from "../../shared/secret-box.ts";
import { AddressHasher, isPseudonym } from "./address-hash.ts";

const key = () => randomBytes(32).toString("base64");

describe("AddressHasher", () => {
  const k1 = key();
  const hasher = new AddressHasher(parseSecretKeys(`k1:${k1}`));

  it("gives one address one pseudonym per workspace, without the address in it", () => {
    const pseudonym = hasher.pseudonymOf("ws_a", "ann@example.com");
    expect(pseudonym).toMatch(/^erased:k1:[A-Za-z0-9_-]{43}$/);
    expect(isPseudonym(pseudonym)).toBe(true);
    expect(pseudonym).not.toContain("ann");
    expect(hasher.pseudonymOf("ws_a", "ann@example.com")).toBe(pseudonym);
    expect(hasher.pseudonymOf("ws_b", "ann@example.com")).not.toBe(pseudonym);
    expect(hasher.pseudonymOf("ws_a", "Ann@example.com")).not.toBe(pseudonym); // the local part keeps its case
  });

  it("depends on the key: another SECRETS_KEY cannot test guesses against it", () => {
    const other = new AddressHasher(parseSecretKeys(`k1:${key()}`));
    expect(other.pseudonymOf("ws_a", "ann@example.com")).not.toBe(hasher.pseudonymOf("ws_a", "ann@example.com"));
  });

  it("still finds an erasure made with a key that a rotation moved to second place", () => {
    const rotated = new AddressHasher(parseSecretKeys(`k2:${key()},k1:${k1}`));
    const before = hasher.pseudonymOf("ws_a", "ann@example.com");
    expect(rotated.pseudonymOf("ws_a", "ann@example.com")).toMatch(/^erased:k2:/);
    expect(rotated.candidatesOf("ws_a", "ann@example.com")).toContain(before);
  });
});
