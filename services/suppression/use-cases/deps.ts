/** What the use cases need, passed in (no globals). */
import type { Logger } from "../../shared/log.ts";
import type { AddressHasher } from "../erasure/address-hash.ts";
import type { KeyedLock } from "../../shared/keyed-lock.ts";
import type { OutboxPublisher } from "../outbox.ts";
import type { SendRepository } from "../send-repository.ts";
import type { SoftBouncePolicy } from "../soft-bounce-policy.ts";
import type { LookupStrategy, SubscriberRepository } from "../subscriber-repository.ts";

export interface SuppressionDeps {
  subscribers: SubscriberRepository;
  sends: SendRepository;
  outbox: OutboxPublisher;
  lock: KeyedLock;
  policy: SoftBouncePolicy;
  lookup: LookupStrategy;
  log: Logger;
  /** Keys erased addresses are kept under (from SECRETS_KEY); undefined without it: no erasure. */
  hasher?: AddressHasher;
  now(): number;
}
