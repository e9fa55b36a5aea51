/**
 * Reads a request body up to a limit and never keeps more: a declared length
 * over the limit is refused before reading, and a chunked body stops being
 * kept as soon as it passes the limit.
 *
 * Why an oversized body is still drained (discarded, never buffered) for a
 * moment before the 413 goes out: closing a socket whose receive buffer
 * still holds unread bytes makes the kernel send a TCP reset instead of a
 * FIN, and a client still uploading then sees "connection reset" on its next
 * write and never reads the 413 that had already arrived (seen in fault
 * scenario 9). Web servers do the same ("lingering close"). The drain is
 * bounded in bytes and time, so it costs an abusive client its own bandwidth
 * only; past either bound the 413 is sent and the connection closed anyway.
 */
import type { HttpRequest } from "../../shared/rpc/server.ts";

export class BodyTooLargeError extends Error {
  constructor(limit: number) {
    super(`body larger than ${limit} bytes`);
    this.name = "BodyTooLargeError";
  }
}

/** How much of an oversized body is read and thrown away, at most, before answering. */
const drain = { bytes: 1024 * 1024, ms: 1000 };

/** Resolves with the whole body, or rejects with BodyTooLargeError (or the stream's error). */
export function readBody(req: HttpRequest, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  const declaredTooLarge = Number.isFinite(declared) && declared > limit;
  // A declared length past what would be drained is refused without reading a byte.
  if (declaredTooLarge && declared > limit + drain.bytes) return Promise.reject(new BodyTooLargeError(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = declaredTooLarge;
    let drainTimer: ReturnType<typeof setTimeout> | undefined;

    const refuse = () => {
      cleanup();
      req.pause();
      reject(new BodyTooLargeError(limit));
    };
    const startDraining = () => {
      tooLarge = true;
      chunks.length = 0;
      drainTimer = setTimeout(refuse, drain.ms);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (tooLarge) {
        if (size > limit + drain.bytes) refuse();
        return;
      }
      if (size > limit) return startDraining();
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      if (tooLarge) return reject(new BodyTooLargeError(limit));
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      clearTimeout(drainTimer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    if (declaredTooLarge) startDraining();
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}
