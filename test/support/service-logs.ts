/**
 * Everything the service processes of a stack wrote, stdout and stderr, whole. ServiceProc.output() keeps
 * only the last 20,000 characters (enough to explain a crash), which at LOG_LEVEL=debug would drop the
 * start of a run: a search for leaked personal data must read every line.
 */
import { StringDecoder } from "node:string_decoder";
import type { Readable } from "node:stream";
import type { ServiceName, ServiceProc, Stack } from "../faults/stack.ts";

/** One process's output so far. */
export interface ProcessLog {
  /** "<service>#<instance>". */
  readonly label: string;
  readonly service: ServiceName;
  readonly text: string;
}

/** The captured output of every process of a stack. */
export interface ServiceLogs {
  /** Every process's output so far. */
  all(): ProcessLog[];
  /** The output of every instance of one service so far. */
  of(service: ServiceName): string;
}

/** What ServiceProc.output() keeps (test/faults/stack.ts). */
const keptCharacters = 20_000;

/**
 * Starts capturing every running process of `stack`. Call it right after Stack.start: what a process
 * wrote before is taken from its kept output, which must still be whole. A process started later (a
 * restart) is not followed.
 */
export function captureServiceLogs(stack: Stack): ServiceLogs {
  const logs: { label: string; service: ServiceName; chunks: string[] }[] = [];
  for (const [service, procs] of stack.procs) {
    procs.forEach((proc, instance) => logs.push({ label: `${service}#${instance}`, service, chunks: follow(proc) }));
  }
  const text = (chunks: string[]) => chunks.join("");
  return {
    all: () => logs.map((log) => ({ label: log.label, service: log.service, text: text(log.chunks) })),
    of: (service) => logs.filter((log) => log.service === service).map((log) => text(log.chunks)).join(""),
  };
}

function follow(proc: ServiceProc): string[] {
  const before = proc.output();
  if (before.length >= keptCharacters) throw new Error(`${proc.name} wrote ${before.length} characters before its output was captured: the start may be lost`);
  // Read and subscribed in one synchronous step, so no chunk is missed or counted twice.
  const chunks = [before];
  const keep = (stream: Readable | null) => {
    // A chunk may end inside a multi-byte character: the decoder holds it for the next one.
    const decoder = new StringDecoder("utf8");
    stream?.on("data", (chunk: Buffer) => void chunks.push(decoder.write(chunk)));
  };
  keep(proc.child.stdout);
  keep(proc.child.stderr);
  return chunks;
}
