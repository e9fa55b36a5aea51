/**
 * Which failures are worth waiting out. A transient failure (the database or NATS unreachable or
 * restarting, a timeout, contention that lost a version guard too often) says nothing about the input:
 * the RPC boundary answers Unavailable (safe to retry) and the consumer loop retries without limit. Every
 * other error is treated as a bug or bad input: Internal for an RPC, a bounded number of attempts and then
 * a dead letter for a queued message.
 *
 * Classification looks through wrappers: the driver reports a connection closed in the middle of a
 * bulk write as a MongoBulkWriteError whose `errorResponse` is the network error, and our own errors keep
 * theirs as `cause`. An independent fault run saw RecordSend answer Internal for exactly that.
 */
import {
  ClosedConnectionError,
  ConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/nats-core";
import { JetStreamApiError } from "@nats-io/jetstream";
import {
  MongoError,
  MongoExpiredSessionError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoOperationTimeoutError,
  MongoServerClosedError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
} from "mongodb";
import { UnavailableError } from "./errors.ts";

/** Driver errors that are about the connection, never about the operation. */
const transientDriverErrors = [
  MongoNetworkError, // includes MongoNetworkTimeoutError
  MongoServerSelectionError,
  MongoTopologyClosedError,
  MongoNotConnectedError,
  MongoServerClosedError,
  MongoOperationTimeoutError,
  MongoExpiredSessionError, // an operation cut off by a client restart (mongo-watchdog.ts)
];

/** Pool errors the driver does not export as classes (a pool cleared or closed under a running operation). */
const transientDriverErrorNames = new Set(["MongoPoolClearedError", "MongoPoolClosedError", "MongoWaitQueueTimeoutError"]);

/**
 * Socket errors from Node itself. The driver does not wrap all of them: a command written to a socket the
 * server had just closed came out as a bare `Error: This socket has been ended by the other party`
 * (EPIPE) when the database was killed under RecordSend calls (database-down.test.ts).
 */
const networkErrorCodes = new Set([
  "EPIPE",
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTCONN",
  "EAI_AGAIN",
  "ERR_SOCKET_CLOSED",
  "ERR_STREAM_WRITE_AFTER_END",
]);

/** Labels the driver and server put on errors that a retry may cure. */
const transientLabels = ["RetryableWriteError", "TransientTransactionError", "ResetPool", "PoolRequestedRetry", "InterruptInUseConnections"];

/**
 * Server error codes of the same kind (the driver's retryable codes): host unreachable or not found,
 * network timeout, shutting down, stepped down, not primary, interrupted by a state change, exceeded time
 * limit, socket exception, write concern timeouts.
 */
const transientServerCodes = new Set([6, 7, 64, 89, 91, 134, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436]);

/** True for any failure worth retrying without limit: database, NATS, or a use case's UnavailableError. */
export function isTransientFailure(error: unknown): boolean {
  return causes(error).some(
    (each) => each instanceof UnavailableError || isNetworkError(each) || isTransientDbErrorItself(each) || isTransientNatsError(each),
  );
}

function isNetworkError(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && networkErrorCodes.has(code);
}

function isTransientDbErrorItself(error: Error): boolean {
  if (transientDriverErrors.some((kind) => error instanceof kind) || transientDriverErrorNames.has(error.name)) return true;
  if (!(error instanceof MongoError)) return false;
  if (transientLabels.some((label) => error.hasErrorLabel(label))) return true;
  return typeof error.code === "number" && transientServerCodes.has(error.code);
}

function isTransientNatsError(error: Error): boolean {
  return (
    error instanceof TimeoutError ||
    error instanceof NoRespondersError ||
    error instanceof RequestError ||
    error instanceof ConnectionError ||
    error instanceof ClosedConnectionError ||
    error instanceof DrainingConnectionError ||
    error.name === "JetStreamNotEnabled" || // not exported; a node still starting its JetStream
    (error instanceof JetStreamApiError && error.status === 503) // no JetStream quorum (yet)
  );
}

/** The error, its `cause` chain and a bulk write's wrapped `errorResponse`, at most a few deep. */
function causes(error: unknown): Error[] {
  const found: Error[] = [];
  let next: unknown = error;
  while (next instanceof Error && found.length < 8 && !found.includes(next)) {
    found.push(next);
    const wrapped = (next as { errorResponse?: unknown }).errorResponse;
    next = wrapped instanceof Error ? wrapped : next.cause;
  }
  return found;
}
