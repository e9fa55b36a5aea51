/**
 * ConnectRPC handlers of DeliveryStatusService: validate, call the use case,
 * map to proto. Errors are thrown as the shared error classes and mapped to
 * Connect codes by the host.
 */
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { create } from "@bufbuild/protobuf";
import {
  DeliveryStatusService,
  GetSendResponseSchema,
  ListSendEventsResponseSchema,
  ListSendsResponseSchema,
  ListSubscriberSendsResponseSchema,
  RecordSendResponseSchema,
  SendStatus,
  type ListSubscriberSendsRequest,
  type ListSubscriberSendsResponse,
  type WatchSendsResponse,
} from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import type { Provider as ApiProvider } from "../../gen/ngsreach/events/v1/provider_pb.ts";
import { InvalidArgumentError } from "../shared/errors.ts";
import { emailIdFromRequest, emailIdOf, providerFromApi } from "../shared/providers.ts";
import { callerOf } from "../shared/rpc/auth.ts";
import { subscribeLive } from "../shared/live.ts";
import { pageSize } from "../shared/paging.ts";
import { optionalText, requireText, requireWorkspaceId } from "../shared/validation.ts";
import { decodeLiveChange, liveSubject } from "./outbound.ts";
import { listSubscriberSends } from "./erasure/subscriber-sends.ts";
import { statusName, toSendEventMessage, toSendMessage, usFromTimestamp } from "./send-mapping.ts";
import { normaliseAddress } from "./send-projection.ts";
import type { SendsRepository, SubscriberMatch } from "./sends-repository.ts";
import { getReconciliation, reconcileSends, type ReconcileRpcDeps } from "./reconcile/reconcile-rpc.ts";
import { getSend, listSendEvents, listSends } from "./use-cases/queries.ts";
import { recordSend, type RecordSendDeps } from "./use-cases/record-send.ts";

export interface RpcDeps extends RecordSendDeps {
  repo: SendsRepository;
  nc: NatsConnection;
  /** Aborted when the service stops, so open watch streams end. */
  shutdown: AbortSignal;
  /** Undefined without SECRETS_KEY (the reconciliation RPCs then say so). */
  reconcile?: ReconcileRpcDeps;
}

const requireRecipient = (value: string) => {
  const recipient = requireText(value, "recipient", 320);
  if (!/^[^@\s]+@[^@\s]+$/.test(recipient.trim())) throw new InvalidArgumentError("recipient", "must be an email address");
  return recipient;
};

/** Whose sends ListSubscriberSends streams: exactly one of recipient (normalised) and subscriber_id. */
function requireSubscriber(subscriber: ListSubscriberSendsRequest["subscriber"]): SubscriberMatch {
  switch (subscriber.case) {
    case "recipient":
      return { emails: [normaliseAddress(requireRecipient(subscriber.value))] };
    case "subscriberId":
      return { emails: [], subscriberId: requireText(subscriber.value, "subscriber_id") };
    default:
      throw new InvalidArgumentError("recipient or subscriber_id", "exactly one must be set");
  }
}

/**
 * The email id a send is known by, from a provider's message id (RecordSend, GetSend): the provider is
 * checked first (an unknown number names `provider`), then the id as given, then the id made of it —
 * Mailgun's "<>" alone names no message, and a prefix may take it past what the consumer accepts.
 */
function requireEmailId(apiProvider: ApiProvider, messageId: string): string {
  const provider = providerFromApi(apiProvider);
  const emailId = emailIdFromRequest(provider, requireText(messageId, "email_id"));
  if (emailId === emailIdOf(provider, "")) throw new InvalidArgumentError("email_id", "required");
  return requireText(emailId, "email_id");
}

/** Registers the RPCs on the router. */
export function deliveryStatusRoutes(deps: RpcDeps) {
  return (router: ConnectRouter) =>
    router.service(DeliveryStatusService, {
      async recordSend(req, context) {
        const input = {
          workspaceId: requireWorkspaceId(req.workspaceId),
          emailId: requireEmailId(req.provider, req.emailId),
          campaignId: requireText(req.campaignId, "campaign_id"),
          subscriberId: requireText(req.subscriberId, "subscriber_id"),
          recipient: requireRecipient(req.recipient),
          sentAtUs: req.sentTime ? usFromTimestamp(req.sentTime) : undefined,
          caller: callerOf(context),
        };
        const { send, created } = await recordSend(deps, input);
        return create(RecordSendResponseSchema, { send: toSendMessage(send), created });
      },

      async getSend(req) {
        const send = await getSend(deps.repo, requireWorkspaceId(req.workspaceId), requireEmailId(req.provider, req.emailId));
        return create(GetSendResponseSchema, { send: toSendMessage(send) });
      },

      async listSendEvents(req) {
        const page = await listSendEvents(deps.repo, {
          workspaceId: requireWorkspaceId(req.workspaceId),
          emailId: requireText(req.emailId, "email_id"),
          pageSize: pageSize(req.pageSize),
          pageToken: req.pageToken,
        });
        return create(ListSendEventsResponseSchema, { events: page.items.map(toSendEventMessage), nextPageToken: page.nextPageToken });
      },

      async listSends(req) {
        const status = req.status === SendStatus.UNSPECIFIED ? undefined : statusName(req.status);
        if (req.status !== SendStatus.UNSPECIFIED && !status) throw new InvalidArgumentError("status", `unknown value ${req.status}`);
        const page = await listSends(deps.repo, {
          workspaceId: requireWorkspaceId(req.workspaceId),
          campaignId: requireText(req.campaignId, "campaign_id"),
          status,
          subscriberId: optionalText(req.subscriberId, "subscriber_id"),
          pageSize: pageSize(req.pageSize),
          pageToken: req.pageToken,
        });
        return create(ListSendsResponseSchema, { sends: page.items.map(toSendMessage), nextPageToken: page.nextPageToken });
      },

      async *watchSends(req, context: HandlerContext): AsyncGenerator<WatchSendsResponse> {
        const workspaceId = requireWorkspaceId(req.workspaceId);
        const campaignId = optionalText(req.campaignId, "campaign_id");
        const signal = AbortSignal.any([context.signal, deps.shutdown]);
        for await (const data of subscribeLive(deps.nc, liveSubject(workspaceId), signal)) {
          const change = decodeLiveChange(data);
          if (!change?.send || change.send.workspaceId !== workspaceId) continue;
          if (campaignId && change.send.campaignId !== campaignId) continue;
          yield change;
        }
      },

      async *listSubscriberSends(req): AsyncGenerator<ListSubscriberSendsResponse> {
        const workspaceId = requireWorkspaceId(req.workspaceId);
        const subscriber = requireSubscriber(req.subscriber);
        for await (const { send, events } of listSubscriberSends(deps.repo, workspaceId, subscriber)) {
          yield create(ListSubscriberSendsResponseSchema, { send: { send: toSendMessage(send), events: events.map(toSendEventMessage) } });
        }
      },

      reconcileSends: (req) => reconcileSends(deps.reconcile, req),
      getReconciliation: (req) => getReconciliation(deps.reconcile, req),
    });
}
