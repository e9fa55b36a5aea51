/**
 * The Mailgun token memory every gateway instance shares (collection `gateway_mailgun_tokens`): one
 * document per (signing key, token), `_id` = both, holding the event id the token first verified with
 * and when the binding may be forgotten. The unique `_id` makes the first insert win across instances
 * and restarts; a later request with the same token reads whose it is. Expired bindings are removed by
 * a TTL index on MongoDB and by `prune` (FerretDB v1 has no TTL indexes), and an
 * expired one found in the way is replaced, guarded by its expiry so two replacers cannot both win.
 */
import type { Collection, Db } from "mongodb";
import { ensureIndexes, isDuplicateKeyError } from "../../shared/mongo.ts";
import type { MailgunTokenMemory, TokenBinding } from "../providers/mailgun-tokens.ts";

const notImplemented = 238;

interface TokenDoc {
  _id: string;
  eventId: string;
  expiresAt: Date;
}

export class MailgunTokenRepository implements MailgunTokenMemory {
  readonly #tokens: Collection<TokenDoc>;

  constructor(db: Db) {
    this.#tokens = db.collection<TokenDoc>("gateway_mailgun_tokens");
  }

  async ensureIndexes(): Promise<void> {
    try {
      await ensureIndexes(this.#tokens, [{ key: { expiresAt: 1 }, name: "expiresAt_ttl", expireAfterSeconds: 0 }]);
    } catch (error) {
      // FerretDB v1 answers NotImplemented (238) to a TTL option: an ordinary index serves prune() there.
      if ((error as { cause?: { code?: unknown } }).cause?.code !== notImplemented) throw error;
      await ensureIndexes(this.#tokens, [{ key: { expiresAt: 1 }, name: "expiresAt_1" }]);
    }
  }

  async bind({ scope, token, eventId, nowMs, expiresAtMs }: TokenBinding): Promise<string> {
    const _id = `${scope}:${token}`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.#tokens.insertOne({ _id, eventId, expiresAt: new Date(expiresAtMs) });
        return eventId;
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
      }
      const bound = await this.#tokens.findOne({ _id });
      if (!bound) continue; // pruned meanwhile: insert again
      if (bound.expiresAt.getTime() > nowMs) return bound.eventId;
      const replaced = await this.#tokens.updateOne({ _id, expiresAt: bound.expiresAt }, { $set: { eventId, expiresAt: new Date(expiresAtMs) } });
      if (replaced.modifiedCount === 1) return eventId;
    }
    throw new Error("Mailgun token binding kept changing under concurrent requests");
  }

  /** Removes bindings past their expiry; returns how many. */
  async prune(now = new Date()): Promise<number> {
    return (await this.#tokens.deleteMany({ expiresAt: { $lte: now } })).deletedCount;
  }
}
