import { describe, expect, it } from "vitest";
import { openSecret, parseSecretKeys, resealSecret, sealedKeyId, sealSecret, secretFingerprint, SecretUndecryptableError } from "./secret-box.ts";

const key = (byte: number) => Buffer.alloc(32, byte).toString("base64");

describe("sealed webhook secrets", () => {
  const keys = parseSecretKeys(`k1:${key(1)}`);
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

  it("round-trips a secret for its own workspace and never stores it in the clear", () => {
    const sealed = sealSecret(keys, "ws1", secret);
    expect(sealed).toMatch(/^v1\.k1\./);
    expect(sealed).not.toContain(secret.slice(6));
    expect(openSecret(keys, "ws1", sealed)).toBe(secret);
    expect(sealSecret(keys, "ws1", secret)).not.toBe(sealed);
  });

  it("refuses a ciphertext copied to another workspace, or altered", () => {
    const sealed = sealSecret(keys, "ws1", secret);
    expect(() => openSecret(keys, "ws2", sealed)).toThrow();
    // The second-to-last character (all of its bits are data) changed to another: one in 64 seals had an "A" there,
    // which the old test "changed" to "A" when the last character was not one (a flaky pass for a tampered seal).
    const changed = sealed.at(-2) === "A" ? "B" : "A";
    const altered = sealed.slice(0, -2) + changed + sealed.slice(-1);
    expect(altered).not.toBe(sealed);
    expect(() => openSecret(keys, "ws1", altered)).toThrow();
  });

  it("rotates keys: the first key seals, older keys still open what they sealed", () => {
    const old = sealSecret(keys, "ws1", secret);
    const rotated = parseSecretKeys(`k2:${key(2)},k1:${key(1)}`);
    expect(openSecret(rotated, "ws1", old)).toBe(secret);
    expect(sealSecret(rotated, "ws1", secret)).toMatch(/^v1\.k2\./);
    expect(() => openSecret(parseSecretKeys(`k2:${key(2)}`), "ws1", old)).toThrow(/key id "k1"/);
  });

  it("says which key id a secret it cannot open was sealed with, and whether the key is missing or wrong", () => {
    const sealed = sealSecret(keys, "ws1", secret);
    const failure = (open: () => unknown) => {
      try {
        open();
      } catch (error) {
        return error;
      }
    };
    expect(failure(() => openSecret(parseSecretKeys(`k2:${key(2)}`), "ws1", sealed))).toMatchObject({ keyId: "k1", reason: "unknown_key" });
    expect(failure(() => openSecret(parseSecretKeys(`k1:${key(3)}`), "ws1", sealed))).toMatchObject({ keyId: "k1", reason: "decrypt_failed" });
    expect(failure(() => openSecret(keys, "ws1", "v1.k1.short"))).toBeInstanceOf(SecretUndecryptableError);
    expect(sealedKeyId(sealed)).toBe("k1");
    expect(sealedKeyId("v1.<script>.a.b")).toBe("malformed"); // never echoes a stored value that is not a key id
    expect(String(failure(() => openSecret(parseSecretKeys(`k2:${key(2)}`), "ws1", sealed)))).not.toContain(key(1));
  });

  it("re-seals a secret under the first key, and leaves one already under it as it is", () => {
    const old = sealSecret(keys, "ws1", secret);
    const rotated = parseSecretKeys(`k2:${key(2)},k1:${key(1)}`);
    const resealed = resealSecret(rotated, "ws1", old)!;
    expect(resealed).toMatch(/^v1\.k2\./);
    expect(openSecret(parseSecretKeys(`k2:${key(2)}`), "ws1", resealed)).toBe(secret);
    expect(resealSecret(rotated, "ws1", resealed)).toBeUndefined();
    expect(() => resealSecret(parseSecretKeys(`k2:${key(2)}`), "ws1", old)).toThrow(SecretUndecryptableError);
  });

  it("rejects a malformed SECRETS_KEY with a message naming the variable but not the key", () => {
    expect(() => parseSecretKeys(undefined)).toThrow(/^SECRETS_KEY: required/);
    expect(() => parseSecretKeys("nokeyid")).toThrow(/^SECRETS_KEY: /);
    expect(() => parseSecretKeys(`k1:${Buffer.alloc(16).toString("base64")}`)).toThrow(/32 bytes/);
    expect(() => parseSecretKeys(`k1:${key(1)},k1:${key(2)}`)).toThrow(/twice/);
    const error = (() => {
      try {
        parseSecretKeys(`bad id:${key(9)}`);
      } catch (caught) {
        return caught as Error;
      }
    })();
    expect(error?.message).toMatch(/SECRETS_KEY/);
    expect(error?.message).not.toContain(key(9));
  });

  it("fingerprints a secret with 8 hex digits of its SHA-256", () => {
    expect(secretFingerprint(secret)).toMatch(/^[0-9a-f]{8}$/);
    expect(secretFingerprint(secret)).not.toBe(secretFingerprint(secret + "x"));
  });
});
