/**
 * What the gateway tells an operator when a workspace's webhook secret cannot
 * be decrypted with SECRETS_KEY (a key id was dropped from it, or its key
 * changed): every such request counted in /metrics by key id, and one log
 * line per key id for the life of the process — the requests keep coming
 * (Resend retries for ~28 h), the line says what to do once.
 */
import type { Logger } from "../../shared/log.ts";
import type { Counter } from "../../shared/metrics.ts";

/** Key ids come from stored documents, not requests; still, the label and the log set stay bounded. */
const maxKeyIds = 32;

export function undecryptableReporter(log: Logger, counter: Counter) {
  const seen = new Set<string>();
  return (workspaceId: string, keyIds: string[]): void => {
    for (const keyId of new Set(keyIds)) {
      const known = seen.has(keyId);
      if (!known && seen.size >= maxKeyIds) {
        counter.inc({ key_id: "other" });
        continue;
      }
      counter.inc({ key_id: keyId });
      if (known) continue;
      seen.add(keyId);
      log.error("webhook secret cannot be decrypted: webhooks of workspaces whose secret it sealed are answered 503", {
        keyId,
        workspaceId,
        fix: `add key id "${keyId}" back to SECRETS_KEY (after the first key) and restart the gateway, then run "ngsreach secrets reencrypt"; or set a new secret for each workspace ("ngsreach health" lists its state)`,
      });
    }
  };
}
