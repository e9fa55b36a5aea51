/**
 * Where `secret set|rotate` take the credential from, so it need not be typed
 * on the command line, where it would stay in shell history and be visible to
 * every user of the machine in the process list: `--secret -` reads standard
 * input (a pipe, a file, a password manager's output); with no --secret and a
 * terminal it is asked for without echo. NGSREACH_WEBHOOK_SECRET still works.
 */
import type { Env } from "../services/shared/config.ts";
import { UsageError } from "./usage-error.ts";

export interface SecretSource {
  /** --secret as given ("-": standard input). */
  flag: string | undefined;
  /** What to ask on the terminal, e.g. "webhook secret for workspace ws_1 (resend): ". */
  question: string;
  env: Env;
}

/** The credential from --secret, standard input, NGSREACH_WEBHOOK_SECRET, or the terminal, in that order. */
export async function readSecret(source: SecretSource): Promise<string> {
  if (source.flag === "-") return nonEmpty(await readAll(process.stdin), "standard input held no secret");
  if (source.flag) return source.flag;
  if (source.env.NGSREACH_WEBHOOK_SECRET) return source.env.NGSREACH_WEBHOOK_SECRET;
  if (process.stdin.isTTY) return nonEmpty(await askHidden(source.question), "no secret was typed");
  throw new UsageError("--secret is required: give --secret - to read it from standard input, or run on a terminal to be asked for it");
}

/** A secret as read: surrounding white space (the newline of `echo`, of a file) is not part of it. */
function nonEmpty(text: string, problem: string): string {
  const secret = text.trim();
  if (!secret) throw new UsageError(problem);
  return secret;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString("utf8");
}

// A terminal in bracketed-paste mode wraps a paste in these; they are not part of what was pasted.
const pasteMarks = /\u001b\[20[01]~/g;

/** Asks on standard error and reads one line from the terminal in raw mode, echoing nothing. */
function askHidden(question: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(question);
  input.setRawMode(true);
  input.setEncoding("utf8");
  input.resume();
  let typed: string[] = [];
  return new Promise((resolve) => {
    const finish = () => {
      input.off("data", onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write("\n");
    };
    const onData = (chunk: string) => {
      for (const char of chunk.replace(pasteMarks, "")) {
        if (char === "\r" || char === "\n" || char === "\u0004") {
          finish();
          resolve(typed.join(""));
          return;
        }
        if (char === "\u0003") {
          // Ctrl-C: raw mode turned it into a character; stop as the signal would have.
          finish();
          process.exit(130);
        }
        if (char === "\u007f" || char === "\b") typed = typed.slice(0, -1);
        else if (char >= " ") typed.push(char);
      }
    };
    input.on("data", onData);
  });
}
