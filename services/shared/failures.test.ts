import { TimeoutError } from "@nats-io/nats-core";
import { MongoBulkWriteError, MongoNetworkError, MongoServerError, MongoServerSelectionError } from "mongodb";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, UnavailableError } from "./errors.ts";
import { isTransientFailure } from "./failures.ts";

const serverError = (code: number, errorLabels: string[] = []) => new MongoServerError({ message: `code ${code}`, code, errorLabels });
const socketError = (code: string) => Object.assign(new Error("This socket has been ended by the other party"), { code });

describe("which failures are transient", () => {
  it("counts outages of the database as transient, also when wrapped by a bulk write or a cause", () => {
    const closed = new MongoNetworkError("connection 3 to 127.0.0.1:27117 closed");
    expect(isTransientFailure(closed)).toBe(true);
    expect(isTransientFailure(new MongoBulkWriteError(closed, {} as never))).toBe(true);
    expect(isTransientFailure(new Error("saving the send failed", { cause: closed }))).toBe(true);
    expect(isTransientFailure(new MongoServerSelectionError("Server selection timed out after 5000 ms", {} as never))).toBe(true);
    expect(isTransientFailure(socketError("EPIPE"))).toBe(true);
    expect(isTransientFailure(serverError(91))).toBe(true); // ShutdownInProgress
    expect(isTransientFailure(serverError(1, ["RetryableWriteError"]))).toBe(true);
  });

  it("counts NATS outages and the use cases' own Unavailable as transient", () => {
    expect(isTransientFailure(new TimeoutError())).toBe(true);
    expect(isTransientFailure(new Error("outbox publish failed", { cause: new TimeoutError() }))).toBe(true);
    expect(isTransientFailure(new UnavailableError("too much write contention"))).toBe(true);
  });

  it("counts bugs and bad input as not transient", () => {
    expect(isTransientFailure(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBe(false);
    expect(isTransientFailure(new InvalidArgumentError("email_id", "must not be empty"))).toBe(false);
    expect(isTransientFailure(serverError(11000))).toBe(false); // duplicate key
    expect(isTransientFailure(serverError(10334))).toBe(false); // BSONObjectTooLarge: a document over the size limit
    expect(isTransientFailure(new MongoBulkWriteError({ message: "E11000 duplicate key", code: 11000, writeErrors: [] } as never, {} as never))).toBe(false);
    expect(isTransientFailure(socketError("ERR_INVALID_ARG_TYPE"))).toBe(false);
    expect(isTransientFailure("a string")).toBe(false);
  });

  it("stops following a cause chain that loops", () => {
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(isTransientFailure(a)).toBe(false);
  });
});
