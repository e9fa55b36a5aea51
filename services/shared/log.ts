/**
 * Structured JSON logs, one line per entry on stdout. Fields whose names look
 * like secrets or payloads are dropped, so a careless call cannot leak a
 * webhook secret, token or body into the logs; and anything shaped like an
 * email address in a logged string or error message is masked, because
 * errors quote what they failed on (a duplicate key error names the key,
 * which for a subscriber holds the address; a dead letter's reason is the
 * handler's error message).
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const forbidden = /secret|token|authorization|password|body|signature/i;
// No backslash in it: lines are masked as JSON, where a quote inside a string is escaped.
const address = /[^\s@"'<>(),;:\\]+@[^\s@"'<>(),;:\\]+\.[^\s@"'<>(),;:\\]+/g;

/** `text` with every address-shaped part replaced. */
export function maskAddresses(text: string): string {
  return text.includes("@") ? text.replace(address, "<address>") : text;
}

/** A logger writing JSON lines; `sink` is replaceable for tests. */
export function createLogger(
  base: LogFields,
  level: LogLevel = "info",
  sink: (line: string) => void = (line) => process.stdout.write(line + "\n"),
): Logger {
  const write = (at: LogLevel, msg: string, fields?: LogFields) => {
    if (order[at] < order[level]) return;
    const entry: LogFields = { time: new Date().toISOString(), level: at, ...base, msg };
    for (const [key, value] of Object.entries(fields ?? {})) {
      if (forbidden.test(key)) continue;
      entry[key] = value instanceof Error ? { name: value.name, message: value.message } : value;
    }
    // Masked on the whole line, so an address nested in an object or an array (or in msg) goes too.
    sink(maskAddresses(JSON.stringify(entry)));
  };
  return {
    debug: (msg, fields) => write("debug", msg, fields),
    info: (msg, fields) => write("info", msg, fields),
    warn: (msg, fields) => write("warn", msg, fields),
    error: (msg, fields) => write("error", msg, fields),
    child: (fields) => createLogger({ ...base, ...fields }, level, sink),
  };
}
