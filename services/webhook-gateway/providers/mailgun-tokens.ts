/**
 * What the Mailgun adapter remembers between requests. Mailgun signs `timestamp + token` and nothing of
 * the event, so a captured signature could be pasted onto any event: each token is bound to the first
 * event id it verified with, and the same token with another event is a forgery.
 *
 * The memory must be shared by every gateway instance (a forgery may reach another instance than the
 * original did) and outlive restarts, so production needs a database-backed implementation; the one here
 * is in-process and bounded, for tests and a single instance. A database one keys a document by
 * (scope, token) — a unique `_id` makes the first insert win atomically — stores the event id and an
 * expiry with a TTL index, and answers the stored event id when the insert finds the key taken.
 */

export interface TokenBinding {
  /**
   * Whose tokens these are: one Mailgun signing key (a hash of it, never the key). Tokens are bound per
   * key, so a workspace flooding its own endpoint cannot push out another's bindings.
   */
  scope: string;
  /** Mailgun's random token (50 characters today). */
  token: string;
  eventId: string;
  nowMs: number;
  /** Until when the binding must hold: as long as a request with this token could still be accepted. */
  expiresAtMs: number;
}

export interface MailgunTokenMemory {
  /**
   * Binds the token to the event id unless it is bound already, and answers the event id it is bound to
   * (the given one when new, or when this is Mailgun's own retry of the same event). Atomic per
   * (scope, token): of two racing requests with one token, only one may be told its own event id.
   * Throws when the store cannot be reached; the adapter then answers 503 so Mailgun retries.
   */
  bind(binding: TokenBinding): Promise<string>;
}

export interface InMemoryTokenOptions {
  /** Bindings kept per signing key; the oldest goes first past this. */
  perScope?: number;
  /** Bindings kept in all; the least recently used key's oldest goes first past this. */
  total?: number;
}

interface Entry {
  eventId: string;
  expiresAtMs: number;
}

/**
 * An in-process memory: synchronous, so atomic per token within one process. Past its bounds it forgets
 * the oldest bindings, which only weakens forgery detection for those tokens — it never rejects a
 * genuine event.
 */
export function createInMemoryTokenMemory(options: InMemoryTokenOptions = {}): MailgunTokenMemory & { size(): number } {
  const perScope = options.perScope ?? 50_000;
  const total = options.total ?? 500_000;
  if (!(perScope >= 1 && total >= 1)) throw new Error("token memory bounds must be at least 1");
  // Scopes in least-recently-used order; each scope's entries in insertion order, which is roughly
  // expiry order (every binding lives the same time past its signed timestamp).
  const scopes = new Map<string, Map<string, Entry>>();
  let count = 0;

  const dropFirst = (scope: string, entries: Map<string, Entry>) => {
    const first = entries.keys().next();
    if (first.done) return;
    entries.delete(first.value);
    count--;
    if (entries.size === 0) scopes.delete(scope);
  };
  const pruneExpired = (scope: string, entries: Map<string, Entry>, nowMs: number) => {
    for (const [token, entry] of entries) {
      if (entry.expiresAtMs > nowMs) break;
      entries.delete(token);
      count--;
    }
    if (entries.size === 0) scopes.delete(scope);
  };

  return {
    async bind({ scope, token, eventId, nowMs, expiresAtMs }) {
      let entries = scopes.get(scope);
      if (entries) {
        scopes.delete(scope);
        pruneExpired(scope, entries, nowMs);
      }
      const existing = entries?.get(token);
      if (existing && existing.expiresAtMs > nowMs) {
        scopes.set(scope, entries!);
        return existing.eventId;
      }
      if (existing) {
        entries!.delete(token);
        count--;
      }
      entries ??= new Map();
      while (entries.size >= perScope) dropFirst(scope, entries);
      while (count >= total) {
        const [oldestScope, oldestEntries] = scopes.entries().next().value ?? [scope, entries];
        if (oldestEntries.size === 0) break;
        dropFirst(oldestScope, oldestEntries);
      }
      entries.set(token, { eventId, expiresAtMs });
      count++;
      scopes.set(scope, entries);
      return eventId;
    },
    size: () => count,
  };
}
