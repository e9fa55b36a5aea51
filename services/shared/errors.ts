/**
 * The errors use cases throw. They carry no transport detail: the RPC
 * boundary (rpc/error-mapping.ts) and the HTTP gateway map them to codes in
 * one place each.
 */

/** Input that breaks a rule; names the offending field. */
export class InvalidArgumentError extends Error {
  readonly field: string;
  constructor(field: string, problem: string, options?: ErrorOptions) {
    super(`${field}: ${problem}`, options);
    this.name = "InvalidArgumentError";
    this.field = field;
  }
}

/** The thing asked for does not exist in this workspace. */
export class NotFoundError extends Error {
  constructor(what: string, options?: ErrorOptions) {
    super(`${what} not found`, options);
    this.name = "NotFoundError";
  }
}

/** A write that contradicts what is stored (e.g. a second, different RecordSend). */
export class ConflictError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConflictError";
  }
}

/** The request is fine but the workspace is not set up for it (e.g. no API key); the message says what to set. */
export class FailedPreconditionError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FailedPreconditionError";
  }
}

/** A dependency (NATS, database) cannot be reached now; the caller may retry. */
export class UnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnavailableError";
  }
}

/** A queued message that can never be processed; it goes to the dead-letter stream. */
export class PoisonMessageError extends Error {
  constructor(reason: string, options?: ErrorOptions) {
    super(reason, options);
    this.name = "PoisonMessageError";
  }
}
