/**
 * SuppressionService handlers: validate the request, call a use case, map the
 * result to protobuf. Errors are thrown as the shared error types; the host's
 * interceptor maps them to Connect codes.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { SuppressionReason } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import {
  SubscriberHistoryEntrySchema,
  SubscriberSchema,
  SubscriberStatus,
  SuppressionCheckSchema,
  SuppressionService,
  type Subscriber,
} from "../../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { InvalidArgumentError } from "../shared/errors.ts";
import { pageSize } from "../shared/paging.ts";
import { callerOf } from "../shared/rpc/auth.ts";
import { requireText, requireWorkspaceId } from "../shared/validation.ts";
import { normaliseAddress } from "./address.ts";
import {
  changeKindToProto,
  reasonFromProto,
  reasonToProto,
  sourceToProto,
  statusToProto,
  suppressionToProto,
} from "./proto-mapping.ts";
import { currentStreak } from "./soft-bounce-policy.ts";
import type { StoredSubscriber } from "./subscriber-repository.ts";
import type { Reason } from "./subscriber-state.ts";
import { streakOf } from "./address-facts.ts";
import type { SuppressionDeps } from "./use-cases/deps.ts";
import { addSuppression, removeSuppression } from "./use-cases/manage.ts";
import { isPseudonym } from "./erasure/address-hash.ts";
import { erasureHandlers, type ErasureRpcDeps } from "./erasure/erasure-rpc.ts";
import { checkSuppressions, exportSuppressions, getSubscriber, listSuppressions } from "./use-cases/queries.ts";

/** The most addresses one CheckSuppressions call may carry. */
export const maxCheckedEmails = 1000;

function requireEmail(value: string, field: string): string {
  if (!value || value.trim() === "") throw new InvalidArgumentError(field, "required");
  const normalised = normaliseAddress(value);
  if (!normalised) throw new InvalidArgumentError(field, "not an email address");
  return normalised;
}

function optionalReasonFilter(reason: SuppressionReason): Reason | undefined {
  if (reason === SuppressionReason.UNSPECIFIED) return undefined;
  const stored = reasonFromProto(reason);
  if (!stored) throw new InvalidArgumentError("reason", `unknown reason ${reason}`);
  return stored;
}

const suppressionOf = (stored: StoredSubscriber) => {
  const { email, subscriberId, suppression } = stored.state;
  return suppression ? suppressionToProto(email, subscriberId, suppression) : undefined;
};

/** Extra dependencies of the erasure and export RPCs; without them (tests of the core) those RPCs are absent. */
export type ErasureRpcParts = Omit<ErasureRpcDeps, "requireEmail" | "subscriberToProto" | "suppression">;

function subscriberToProto(deps: SuppressionDeps, stored: StoredSubscriber): Subscriber {
  const { state } = stored;
  const streak = currentStreak(streakOf(state.facts), deps.policy, deps.now());
  const last = streak.at(-1);
  const erased = isPseudonym(state.email);
  return create(SubscriberSchema, {
    workspaceId: state.workspaceId,
    email: erased ? "" : state.email,
    subscriberId: state.subscriberId,
    erased,
    status: statusToProto(state.suppression?.reason),
    suppression: suppressionOf(stored),
    softBounceCount: streak.length,
    softBounceThreshold: deps.policy.limit,
    softBounceWindowSeconds: Math.round(deps.policy.windowMs / 1000),
    lastSoftBounceTime: last ? timestampFromMs(last.atMs) : undefined,
    history: state.history.map((entry) =>
      create(SubscriberHistoryEntrySchema, {
        kind: changeKindToProto(entry.kind),
        changeTime: timestampFromMs(entry.atMs),
        status: entry.kind === "suppressed" ? statusToProto(entry.reason) : SubscriberStatus.ACTIVE,
        reason: reasonToProto(entry.reason),
        source: sourceToProto(entry.source),
        svixId: entry.svixId,
        emailId: entry.emailId,
        campaignId: entry.campaignId,
        actor: entry.actor,
        note: entry.note,
      }),
    ),
    updatedTime: timestampFromMs(state.updatedAtMs),
  });
}

/** Registers SuppressionService on the router. */
export function registerSuppressionRpc(router: ConnectRouter, deps: SuppressionDeps, erasure?: ErasureRpcParts): void {
  const erasureRpc = erasure
    ? erasureHandlers({ ...erasure, suppression: deps, requireEmail, subscriberToProto: (stored) => subscriberToProto(deps, stored) })
    : {};
  router.service(SuppressionService, {
    ...erasureRpc,
    async checkSuppressions(request) {
      const workspaceId = requireWorkspaceId(request.workspaceId);
      if (request.emails.length === 0) throw new InvalidArgumentError("emails", "required: 1 to 1,000 addresses");
      if (request.emails.length > maxCheckedEmails) {
        throw new InvalidArgumentError("emails", `at most ${maxCheckedEmails} addresses, got ${request.emails.length}`);
      }
      const normalised = request.emails.map((email, i) => {
        const address = normaliseAddress(email);
        if (!address) throw new InvalidArgumentError(`emails[${i}]`, "not an email address");
        return address;
      });
      const found = await checkSuppressions(deps, workspaceId, normalised);
      return {
        results: request.emails.map((email, i) => {
          const normalizedEmail = normalised[i] ?? "";
          const record = found.get(normalizedEmail);
          return create(SuppressionCheckSchema, {
            email,
            normalizedEmail,
            suppressed: record !== undefined,
            reason: record ? reasonToProto(record.reason) : SuppressionReason.UNSPECIFIED,
            status: statusToProto(record?.reason),
            suppressedTime: record ? timestampFromMs(record.atMs) : undefined,
          });
        }),
      };
    },

    async getSubscriber(request) {
      const workspaceId = requireWorkspaceId(request.workspaceId);
      const which = request.subscriber;
      let by: { email: string } | { subscriberId: string };
      if (which.case === "email") by = { email: requireEmail(which.value, "email") };
      else if (which.case === "subscriberId") by = { subscriberId: requireText(which.value, "subscriber_id") };
      else throw new InvalidArgumentError("email", "exactly one of email and subscriber_id is required");
      return { subscriber: subscriberToProto(deps, await getSubscriber(deps, workspaceId, by)) };
    },

    async listSuppressions(request) {
      const workspaceId = requireWorkspaceId(request.workspaceId);
      const reason = optionalReasonFilter(request.reason);
      const size = pageSize(request.pageSize);
      const page = await listSuppressions(deps, workspaceId, reason, size, request.pageToken);
      return { suppressions: page.items.flatMap((item) => suppressionOf(item) ?? []), nextPageToken: page.nextPageToken };
    },

    async addSuppression(request, context: HandlerContext) {
      const workspaceId = requireWorkspaceId(request.workspaceId);
      const email = requireEmail(request.email, "email");
      const reason = optionalReasonFilter(request.reason) ?? "manual";
      if (!["manual", "bounced", "complained"].includes(reason)) {
        throw new InvalidArgumentError("reason", "must be MANUAL, BOUNCED or COMPLAINED");
      }
      const subscriberId = request.subscriberId === "" ? "" : requireText(request.subscriberId, "subscriber_id");
      const actor = requireText(request.actor, "actor");
      const note = requireText(request.note, "note", 2000);
      const outcome = await addSuppression(deps, { workspaceId, email, subscriberId, reason, caller: callerOf(context), actor, note });
      return {
        suppression: suppressionOf({ state: outcome.state, outbox: [] }),
        changed: outcome.transition !== undefined,
      };
    },

    async removeSuppression(request, context: HandlerContext) {
      const workspaceId = requireWorkspaceId(request.workspaceId);
      const email = requireEmail(request.email, "email");
      const actor = requireText(request.actor, "actor");
      const note = requireText(request.note, "note", 2000);
      const outcome = await removeSuppression(deps, { workspaceId, email, caller: callerOf(context), actor, note });
      const transition = outcome.transition;
      return transition?.kind === "unsuppressed"
        ? { changed: true, removed: suppressionToProto(email, outcome.state.subscriberId, transition.removed) }
        : { changed: false };
    },

    async *exportSuppressions(request) {
      const workspaceId = requireWorkspaceId(request.workspaceId);
      const reason = optionalReasonFilter(request.reason);
      for await (const chunk of exportSuppressions(deps, workspaceId, reason)) {
        yield { suppressions: chunk.flatMap((item) => suppressionOf(item) ?? []) };
      }
    },
  });
}
