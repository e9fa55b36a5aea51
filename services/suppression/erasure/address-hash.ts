/**
 * The keyed hash an erased address is kept under (issue 17): HMAC-SHA256 of the normalised address with
 * a key of the workspace's, derived (HKDF) from a SECRETS_KEY key. Without the key the hash cannot be
 * tested against guessed addresses, and every workspace's hashes differ; with it, CheckSuppressions
 * recognises an erased address without storing it.
 *
 * An erased document's "email" is its pseudonym `erased:<keyId>:<hash>` — it has no "@", so no request
 * can name it as an address. New erasures use the active key; lookups try every configured key, so a
 * rotated SECRETS_KEY keeps recognising erasures made with a key it still lists (remove an old key only
 * once nothing was erased under it: `erased:<keyId>:` prefixes say which).
 */
import { createHmac, hkdfSync } from "node:crypto";
import type { SecretKeys } from "../../shared/secret-box.ts";

const pseudonymPrefix = "erased:";

/** Derives per-workspace hash keys from SECRETS_KEY's keys. */
export class AddressHasher {
  readonly #keys: SecretKeys;
  readonly #derived = new Map<string, Buffer>();

  constructor(keys: SecretKeys) {
    this.#keys = keys;
  }

  #key(keyId: string, workspaceId: string): Buffer {
    const cacheKey = `${keyId}\u0000${workspaceId}`;
    let key = this.#derived.get(cacheKey);
    if (!key) {
      const material = this.#keys.keys.get(keyId)!;
      key = Buffer.from(hkdfSync("sha256", material, "ngsreach.erasure.v1", workspaceId, 32));
      if (this.#derived.size > 10_000) this.#derived.clear();
      this.#derived.set(cacheKey, key);
    }
    return key;
  }

  /** The pseudonym a new erasure stores the address under (the active key). */
  pseudonymOf(workspaceId: string, address: string): string {
    return this.#pseudonym(this.#keys.activeId, workspaceId, address);
  }

  /** Every pseudonym the address may have been erased under (one per configured key). */
  candidatesOf(workspaceId: string, address: string): string[] {
    return [...this.#keys.keys.keys()].map((keyId) => this.#pseudonym(keyId, workspaceId, address));
  }

  #pseudonym(keyId: string, workspaceId: string, address: string): string {
    const hash = createHmac("sha256", this.#key(keyId, workspaceId)).update(address, "utf8").digest("base64url");
    return `${pseudonymPrefix}${keyId}:${hash}`;
  }
}

/** True for the stored "email" of an erased address. */
export const isPseudonym = (email: string): boolean => email.startsWith(pseudonymPrefix);
