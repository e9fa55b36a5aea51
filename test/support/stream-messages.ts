/** Test support: every message a stream holds on one subject, decoded, in stream order (an ordered consumer, read once). */
import { fromBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";

export async function messagesOn<Desc extends DescMessage>(js: JetStreamClient, stream: string, subject: string, schema: Desc): Promise<MessageShape<Desc>[]> {
  const consumer = await js.consumers.get(stream, { filter_subjects: [subject], deliver_policy: DeliverPolicy.All });
  const pending = (await consumer.info()).num_pending;
  const messages: MessageShape<Desc>[] = [];
  if (pending === 0) return messages;
  for await (const message of await consumer.fetch({ max_messages: pending, expires: 2000 })) {
    messages.push(fromBinary(schema, message.data));
    if (messages.length === pending) break;
  }
  return messages;
}
