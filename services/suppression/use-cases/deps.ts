/** What the use cases need, passed in (no globals). */
import type { Logger } from "../../shared/log.ts";
import type { AddressHasher } from "../erasure/address-hash.ts";
import type { CheckIndex } from "../check-index/check-index.ts";
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
  /** How CheckSuppressions reads the database. */
  lookup: LookupStrategy;
  /** Answers CheckSuppressions from memory when it can prove itself current (SUPPRESSION_CHECK_LOOKUP=index). */
  checkIndex?: CheckIndex;
  log: Logger;
  /** Keys erased addresses are kept under (from SECRETS_KEY); undefined without it: no erasure. */
  hasher?: AddressHasher;
  now(): number;
}
