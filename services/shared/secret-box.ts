/**
 * Secrets at rest (webhook secrets, provider API keys): AES-256-GCM with a key from SECRETS_KEY. Each
 * ciphertext carries the id of the key that made it (so keys can be rotated:
 * list the new key first, keep the old one until every secret was rewritten)
 * and is bound to its workspace id as associated data, so a ciphertext copied
 * to another workspace fails to decrypt. The associated data also names what the
 * secret is for (`purpose`), so a sealed API key moved into a webhook-secret
 * slot (or back) does not open there either. Shared because the gateway seals
 * and delivery-status opens provider API keys for reconciliation.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { ConfigError } from "./config.ts";

const format = "v1";
/** What a sealed value is; webhook secrets were sealed before purposes existed and keep their associated data. */
export type SecretPurpose = "webhook-secret" | "provider-api-key";
const aad = (workspaceId: string, purpose: SecretPurpose) => Buffer.from(`ngsreach.${purpose}.${format}:${workspaceId}`);

/** Parsed SECRETS_KEY: `keyId:base64(32 bytes)[,keyId:base64...]`, the first one encrypts. */
export interface SecretKeys {
  readonly activeId: string;
  readonly keys: ReadonlyMap<string, Buffer>;
}

/** Parses SECRETS_KEY; errors name the variable and never echo key material. */
export function parseSecretKeys(value: string | undefined, variable = "SECRETS_KEY"): SecretKeys {
  if (!value) throw new ConfigError(variable, "required: keyId:base64 of 32 random bytes (npm start generates one)");
  const keys = new Map<string, Buffer>();
  for (const entry of value.split(",")) {
    const [id, material, extra] = entry.trim().split(":");
    if (!id || !material || extra !== undefined || !/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
      throw new ConfigError(variable, "each entry must be keyId:base64 (keyId of [A-Za-z0-9_-])");
    }
    const key = Buffer.from(material, "base64");
    if (key.length !== 32) throw new ConfigError(variable, `key "${id}" must decode to 32 bytes`);
    if (keys.has(id)) throw new ConfigError(variable, `key id "${id}" appears twice`);
    keys.set(id, key);
  }
  return Object.freeze({ activeId: [...keys.keys()][0]!, keys });
}

/** Encrypts a secret for one workspace: `v1.<keyId>.<iv>.<ciphertext+tag>` (base64url parts). */
export function sealSecret(keys: SecretKeys, workspaceId: string, secret: string, purpose: SecretPurpose = "webhook-secret"): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", keys.keys.get(keys.activeId)!, iv);
  cipher.setAAD(aad(workspaceId, purpose));
  const sealed = Buffer.concat([cipher.update(secret, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return [format, keys.activeId, iv.toString("base64url"), sealed.toString("base64url")].join(".");
}

/**
 * A stored secret that SECRETS_KEY cannot open: its key id is not (or no longer) listed, or the key under
 * that id is not the one that sealed it, or the ciphertext was altered or sealed for another workspace.
 * `keyId` is safe to show and log (never key material); "malformed" when the stored string has none.
 */
export class SecretUndecryptableError extends Error {
  readonly keyId: string;
  readonly reason: "unknown_key" | "decrypt_failed";
  constructor(keyId: string, reason: "unknown_key" | "decrypt_failed", options?: ErrorOptions) {
    super(
      reason === "unknown_key"
        ? `cannot open webhook secret: key id "${keyId}" is not in SECRETS_KEY`
        : `cannot open webhook secret sealed with key id "${keyId}": wrong key, altered, or sealed for another workspace`,
      options,
    );
    this.name = "SecretUndecryptableError";
    this.keyId = keyId;
    this.reason = reason;
  }
}

const keyIdPattern = /^[A-Za-z0-9_-]{1,32}$/;

/** The id of the key that sealed a stored secret, or "malformed" (the value may end up in logs and metrics). */
export function sealedKeyId(sealed: string): string {
  const [version, keyId] = sealed.split(".", 2);
  return version === format && keyId !== undefined && keyIdPattern.test(keyId) ? keyId : "malformed";
}

/** Decrypts a secret sealed for this workspace; throws SecretUndecryptableError when SECRETS_KEY cannot. */
export function openSecret(keys: SecretKeys, workspaceId: string, sealed: string, purpose: SecretPurpose = "webhook-secret"): string {
  const [version, , iv, body] = sealed.split(".");
  const keyId = sealedKeyId(sealed);
  const key = keys.keys.get(keyId);
  if (version !== format || !iv || !body) throw new SecretUndecryptableError(keyId, "decrypt_failed");
  if (!key) throw new SecretUndecryptableError(keyId, "unknown_key");
  try {
    const bytes = Buffer.from(body, "base64url");
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
    decipher.setAAD(aad(workspaceId, purpose));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString("utf8");
  } catch (error) {
    throw new SecretUndecryptableError(keyId, "decrypt_failed", { cause: error });
  }
}

/**
 * The secret sealed again under the first key of SECRETS_KEY, or undefined when it already is (so a
 * re-encryption run that is repeated or resumed rewrites nothing twice). Throws SecretUndecryptableError.
 */
export function resealSecret(keys: SecretKeys, workspaceId: string, sealed: string, purpose: SecretPurpose = "webhook-secret"): string | undefined {
  const secret = openSecret(keys, workspaceId, sealed, purpose);
  return sealedKeyId(sealed) === keys.activeId ? undefined : sealSecret(keys, workspaceId, secret, purpose);
}

/** A short, non-secret label so a user can tell which secret is active: SHA-256 of the whole secret, 8 hex chars. */
export function secretFingerprint(secret: string): string {
  return createHash("sha256").update(secret).digest("hex").slice(0, 8);
}
