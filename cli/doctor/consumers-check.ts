/**
 * Are the services keeping up with the stream? Each durable consumer's
 * JetStream info: messages not yet delivered (num_pending) and delivered but
 * not acked (num_ack_pending). When some wait, a second look a moment later
 * tells a backlog being worked off from a consumer that is stuck, and the
 * workspace's newest message on the consumer's subjects, compared with its
 * ack floor, tells whether this workspace's events are among those waiting.
 */
import type { ConsumerInfo } from "@nats-io/jetstream";
import { consumerNames as suppressionConsumers } from "../../services/suppression/consumer.ts";
import { consumerName as deliveryStatusConsumer } from "../../services/delivery-status/consumer.ts";
import { eventsConsumerName, sendsConsumerName } from "../../services/campaign-stats/consumer.ts";
import { auditConsumerName } from "../../services/webhook-gateway/workspace/audit-consumer.ts";
import { sendsConsumerName as gatewaySendsConsumerName } from "../../services/webhook-gateway/health/sends-recorded-consumer.ts";
import { DOMAIN_EVENTS_STREAM, RESEND_EVENTS_STREAM, type NatsHandles } from "../../services/shared/nats.ts";
import type { ServiceName } from "../endpoints.ts";
import { check, type Check } from "./check.ts";

/** Every durable consumer the services create, with the service that runs it. */
export const expectedConsumers: readonly { name: string; stream: string; service: ServiceName }[] = [
  { name: deliveryStatusConsumer, stream: RESEND_EVENTS_STREAM, service: "delivery-status" },
  { name: eventsConsumerName, stream: RESEND_EVENTS_STREAM, service: "campaign-stats" },
  { name: sendsConsumerName, stream: DOMAIN_EVENTS_STREAM, service: "campaign-stats" },
  { name: suppressionConsumers.events, stream: RESEND_EVENTS_STREAM, service: "suppression" },
  { name: suppressionConsumers.sends, stream: DOMAIN_EVENTS_STREAM, service: "suppression" },
  { name: auditConsumerName, stream: DOMAIN_EVENTS_STREAM, service: "webhook-gateway" },
  { name: gatewaySendsConsumerName, stream: DOMAIN_EVENTS_STREAM, service: "webhook-gateway" },
];

/** How long to watch a consumer that has messages waiting before calling it stuck. */
const secondLookMs = 2000;

/** The subject of a message the workspace published on, `resend.events.<ws>.…` or `<kind>.<ws>.…`. */
export function workspaceOfSubject(subject: string): string | undefined {
  const tokens = subject.split(".");
  return subject.startsWith("resend.events.") ? tokens[2] : tokens[1];
}

/** A consumer filter narrowed to one workspace ("resend.events.*.email.>" -> "resend.events.W.email.>"); undefined if it excludes it. */
export function filterForWorkspace(filter: string, workspaceId: string): string | undefined {
  const tokens = filter.split(".");
  const at = filter.startsWith("resend.events.") ? 2 : 1;
  const token = tokens[at];
  if (token === ">") return [...tokens.slice(0, at), workspaceId, ">"].join(".");
  if (token === "*" || token === workspaceId) return [...tokens.slice(0, at), workspaceId, ...tokens.slice(at + 1)].join(".");
  return undefined;
}

/** Stream sequence of the workspace's newest message the consumer takes (0: none). */
async function newestOfWorkspace(nats: NatsHandles, info: ConsumerInfo, workspaceId: string): Promise<number> {
  const filters = info.config.filter_subjects ?? (info.config.filter_subject ? [info.config.filter_subject] : [">"]);
  let newest = 0;
  for (const filter of filters) {
    const subject = filterForWorkspace(filter, workspaceId);
    if (!subject) continue;
    const stored = await nats.jsm.streams.getMessage(info.stream_name, { last_by_subj: subject });
    newest = Math.max(newest, stored?.seq ?? 0);
  }
  return newest;
}

const waitingOf = (info: ConsumerInfo) => info.num_pending + info.num_ack_pending;

async function consumerCheck(nats: NatsHandles, expected: (typeof expectedConsumers)[number], workspaceId: string): Promise<Check> {
  const name = `consumer ${expected.name}`;
  const first = await nats.jsm.consumers.info(expected.stream, expected.name).catch(() => undefined);
  if (!first) {
    return check(name, "fail", `the durable consumer does not exist on ${expected.stream}: ${expected.service} never started against this NATS`, {
      fixes: [`start ${expected.service} with the same NATS_URL as the gateway (it creates its consumers at start-up)`],
    });
  }
  if (waitingOf(first) === 0) return check(name, "ok", "up to date: nothing waiting");
  await new Promise((resolve) => setTimeout(resolve, secondLookMs));
  const info = await nats.jsm.consumers.info(expected.stream, expected.name);
  const newest = await newestOfWorkspace(nats, info, workspaceId);
  const ownWaiting = newest > info.ack_floor.stream_seq;
  const counts = `${info.num_pending} not yet delivered, ${info.num_ack_pending} awaiting ack, ${info.num_redelivered} redelivered`;
  const details = [counts, ownWaiting ? `this workspace's newest message (stream seq ${newest}) is not processed yet` : "none of them is this workspace's"];
  const progressed = info.ack_floor.stream_seq > first.ack_floor.stream_seq || info.delivered.stream_seq > first.delivered.stream_seq || waitingOf(info) < waitingOf(first);
  if (waitingOf(info) === 0) return check(name, "ok", "up to date: the messages waiting a moment ago are processed");
  if (!progressed) {
    return check(name, "fail", `stuck: ${waitingOf(info)} message(s) waiting and none processed in ${secondLookMs / 1000} s`, {
      details,
      fixes: [
        `check that ${expected.service} runs and is serving (its database reachable); a message its handler keeps failing on is retried, then dead-lettered after CONSUMER_MAX_ATTEMPTS (see its log)`,
      ],
    });
  }
  return check(name, ownWaiting ? "warn" : "ok", `catching up: ${waitingOf(info)} message(s) waiting`, {
    details,
    fixes: ownWaiting ? [`this workspace's newest events are delayed, not lost; if the backlog keeps growing, run more instances of ${expected.service}`] : [],
  });
}

export function consumersChecks(nats: NatsHandles, workspaceId: string): Promise<Check[]> {
  return Promise.all(expectedConsumers.map((expected) => consumerCheck(nats, expected, workspaceId)));
}
