/**
 * The erasure and export RPCs of SuppressionService: validate, call the use case, map to protobuf.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Client, HandlerContext } from "@connectrpc/connect";
import type { DeliveryStatusService } from "../../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import {
  ErasureProgressSchema,
  ErasureSchema,
  ErasureState,
  type Erasure,
  type EraseSubscriberRequest,
  type ExportSubscriberDataRequest,
  type ExportSubscriberDataResponse,
  type GetErasureRequest,
  type Subscriber,
} from "../../../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { erasingServices } from "../../shared/erasure-events.ts";
import { InvalidArgumentError, NotFoundError } from "../../shared/errors.ts";
import { callerOf } from "../../shared/rpc/auth.ts";
import { requireText, requireWorkspaceId } from "../../shared/validation.ts";
import type { StoredSubscriber } from "../subscriber-repository.ts";
import type { ErasureRecord } from "./erasure-repository.ts";
import { streamsPart } from "./erasure-progress.ts";
import { exportSubscriberData, type SubscriberTarget } from "./export-subscriber-data.ts";
import { requestErasure, type ErasureDeps } from "./request-erasure.ts";

type SubscriberChoice = EraseSubscriberRequest["subscriber"];

export interface ErasureRpcDeps extends ErasureDeps {
  deliveryStatus: Client<typeof DeliveryStatusService>;
  requireEmail(value: string, field: string): string;
  subscriberToProto(stored: StoredSubscriber): Subscriber;
}

function targetOf(deps: ErasureRpcDeps, which: SubscriberChoice): SubscriberTarget {
  if (which.case === "email") return { email: deps.requireEmail(which.value, "email") };
  if (which.case === "subscriberId") return { subscriberId: requireText(which.value, "subscriber_id") };
  throw new InvalidArgumentError("email", "exactly one of email and subscriber_id is required");
}

function erasureToProto(record: ErasureRecord): Erasure {
  const parts = [...erasingServices, ...(record.purgeStream ? [streamsPart] : [])];
  return create(ErasureSchema, {
    erasureId: record.erasureId,
    workspaceId: record.workspaceId,
    state: record.doneAtMs !== undefined ? ErasureState.DONE : ErasureState.PENDING,
    requestedTime: timestampFromMs(record.requestedAtMs),
    doneTime: record.doneAtMs !== undefined ? timestampFromMs(record.doneAtMs) : undefined,
    caller: record.caller,
    actor: record.actor,
    addresses: record.addresses,
    purgeStream: record.purgeStream,
    services: parts.map((service) => {
      const answer = record.services[service];
      return create(ErasureProgressSchema, {
        service,
        done: answer !== undefined,
        doneTime: answer ? timestampFromMs(answer.doneAtMs) : undefined,
        documents: answer?.documents ?? 0,
      });
    }),
  });
}

/** The handlers, spread into SuppressionService's registration. */
export function erasureHandlers(deps: ErasureRpcDeps) {
  return {
    async eraseSubscriber(request: EraseSubscriberRequest, context: HandlerContext) {
      const workspaceId = requireWorkspaceId(request.workspaceId);
      const target = targetOf(deps, request.subscriber);
      const actor = requireText(request.actor, "actor");
      const note = requireText(request.note, "note", 2000);
      if ("email" in target && note.toLowerCase().includes(target.email.toLowerCase())) {
        throw new InvalidArgumentError("note", "must not contain the address (it is kept in the audit log)");
      }
      const record = await requestErasure(deps, { workspaceId, target, caller: callerOf(context), actor, note, purgeStream: request.purgeStream });
      return { erasure: erasureToProto(record) };
    },

    async getErasure(request: GetErasureRequest) {
      const workspaceId = requireWorkspaceId(request.workspaceId);
      const erasureId = requireText(request.erasureId, "erasure_id", 64);
      const record = await deps.erasures.get(workspaceId, erasureId);
      if (!record) throw new NotFoundError("erasure_id");
      return { erasure: erasureToProto(record) };
    },

    async *exportSubscriberData(request: ExportSubscriberDataRequest, context: HandlerContext): AsyncGenerator<Partial<ExportSubscriberDataResponse>> {
      const workspaceId = requireWorkspaceId(request.workspaceId);
      const target = targetOf(deps, request.subscriber);
      const authorization = context.requestHeader.get("authorization");
      const headers: Record<string, string> = authorization ? { authorization } : {};
      for await (const part of exportSubscriberData(deps.suppression, deps.deliveryStatus, workspaceId, target, headers)) {
        yield part.case === "subscriber" ? { part: { case: "subscriber", value: deps.subscriberToProto(part.value) } } : { part };
      }
    },
  };
}
