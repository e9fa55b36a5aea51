#!/usr/bin/env node
/**
 * `ngsreach` — the operator's command line for the running stack. This file
 * only picks the command; each lives in its own module (usage: command-line.ts).
 *
 * It talks to the services where `npm start` runs them (GATEWAY_URL or
 * GATEWAY_PORT, DELIVERY_STATUS_URL, ...; see endpoints.ts), sending
 * INTERNAL_TOKEN when set (of named tokens, the one named "cli", so the audit
 * names the command line), and to NATS at NATS_URL for doctor and dead-letters.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { loadBaseConfig } from "../services/shared/config.ts";
import { createLogger } from "../services/shared/log.ts";
import { connectNats } from "../services/shared/nats.ts";
import { parseCommandLine, usage, type CommandLine } from "./command-line.ts";
import { deadLettersCommand } from "./dead-letters.ts";
import { settingsClient } from "./secret-command.ts";
import { reencryptCommand } from "./secret-keys.ts";
import { UsageError } from "./usage-error.ts";

async function reencrypt(line: CommandLine): Promise<void> {
  const done = await reencryptCommand(settingsClient(line), { actor: line.actor, note: line.flags.note! }, line.flags["page-token"]);
  if (!done) process.exitCode = 1;
}

async function deadLetters(line: CommandLine): Promise<void> {
  const action = line.positionals[1];
  if (action !== "list" && action !== "replay") throw new UsageError(`unknown dead-letters action "${action ?? ""}" (list or replay)`);
  if (action === "replay" && (!line.flags.consumer || (!line.flags.all && !line.flags.seq))) {
    throw new UsageError("dead-letters replay needs --consumer NAME and --all or --seq N");
  }
  const nats = await connectNats(loadBaseConfig(line.env).natsUrl, "ngsreach-cli", createLogger({}, "error"));
  try {
    await deadLettersCommand(nats, action, { consumer: line.flags.consumer, all: line.flags.all, seq: line.flags.seq });
  } finally {
    await nats.nc.close();
  }
}

type Command = (line: CommandLine) => Promise<void>;

/** Each command's module, loaded when it runs (the doctor alone pulls in every service's consumer names). */
const commands: Record<string, () => Promise<Command>> = {
  doctor: async () => (await import("./doctor-command.ts")).doctorCommand,
  send: async () => (await import("./send-command.ts")).sendCommand,
  sends: async () => (await import("./sends-command.ts")).sendsCommand,
  stats: async () => (await import("./stats-command.ts")).statsCommand,
  deliverability: async () => (await import("./deliverability-command.ts")).deliverabilityCommand,
  suppressions: async () => (await import("./suppressions-command.ts")).suppressionsCommand,
  secret: async () => (await import("./secret-command.ts")).secretCommand,
  apikey: async () => (await import("./apikey-command.ts")).apikeyCommand,
  reconcile: async () => (await import("./reconcile-command.ts")).reconcileCommand,
  simulate: async () => (await import("./simulate-command.ts")).simulateCommand,
  health: async () => (await import("./health-command.ts")).healthCommand,
  audit: async () => (await import("./audit-command.ts")).auditCommand,
  erase: async () => (await import("./erase-command.ts")).eraseCommand,
  "export-subscriber": async () => (await import("./export-subscriber-command.ts")).exportSubscriberCommand,
  "dead-letters": async () => deadLetters,
};

async function main(): Promise<void> {
  const line = parseCommandLine(process.argv.slice(2));
  const [command, action] = line.positionals;
  if (line.flags.help || !command) return console.log(usage);
  if ((command === "secrets" || command === "secret") && action === "reencrypt") return await reencrypt(line);
  if (!Object.hasOwn(commands, command)) throw new UsageError(`unknown command "${command}"`);
  const run = await commands[command]!();
  await run(line);
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    console.error(`${error.message}\n${usage}`);
    process.exit(2);
  }
  if (error instanceof ConnectError) {
    console.error(`ngsreach: ${error.rawMessage} [${Code[error.code]}]`);
    process.exit(1);
  }
  console.error(`ngsreach: ${(error as Error).message}`);
  process.exit(1);
});
