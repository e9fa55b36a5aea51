import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryStatusService } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import { emailEnvelope, publishEnvelope } from "../../test/support/provider-envelopes.ts";
import { ConfigError } from "../shared/config.ts";
import { createLogger } from "../shared/log.ts";
import { connectNats, ensureStreams, type NatsHandles } from "../shared/nats.ts";
import { startService } from "../shared/service-host.ts";
import { storedClickIp, truncatedIp } from "./click-ip.ts";
import { deliveryStatusService, loadDeliveryStatusSettings } from "./service.ts";

describe("truncating a click's IP address", () => {
  it.each([
    ["192.0.2.17", "192.0.2.0"],
    ["203.0.113.255", "203.0.113.0"],
    ["0.0.0.0", "0.0.0.0"],
    [" 192.0.2.17\n", "192.0.2.0"],
  ])("keeps the /24 of the IPv4 address %j: %j", (address, network) => {
    expect(truncatedIp(address)).toBe(network);
  });

  it.each([
    ["2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"],
    ["2001:0DB8:85A3:08D3:1319:8A2E:0370:7348", "2001:db8:85a3::"],
    ["2001:db8:85a3::8a2e:370:7348", "2001:db8:85a3::"],
    ["2001:db8::1", "2001:db8::"],
    ["2001::1", "2001::"],
    ["::2:3:4:5:6:7:8", "0:2:3::"],
    ["1:2:3:4:5:6:7::", "1:2:3::"],
    ["::1", "::"],
    ["::", "::"],
    ["fe80::1%eth0", "fe80::"],
    ["fe80:1:2:3::1%25en0", "fe80:1:2::"],
    ["fe80::1%en0:1.2.3.4", "fe80::"],
    ["2001:db8:85a3:8d3:1319:8a2e:192.0.2.17", "2001:db8:85a3::"],
    ["64:ff9b::192.0.2.33", "64:ff9b::"],
  ])("keeps the /48 of the IPv6 address %j, written short: %j", (address, network) => {
    expect(truncatedIp(address)).toBe(network);
  });

  it.each([
    ["::ffff:192.0.2.17", "192.0.2.0"],
    ["::FFFF:c000:0211", "192.0.2.0"],
    ["0:0:0:0:0:ffff:198.51.100.7", "198.51.100.0"],
    ["::ffff:192.0.2.17%eth0", "192.0.2.0"],
  ])("keeps the /24 of the IPv4 address an IPv4-mapped IPv6 address %j carries: %j", (address, network) => {
    expect(truncatedIp(address)).toBe(network);
  });

  it.each([
    "",
    "unknown",
    "192.0.2",
    "192.0.2.256",
    "123.123.123.321",
    "192.000.002.017",
    "192.0.2.17:443",
    "192.0.2.0/24",
    "1.2.3.4%eth0",
    "[2001:db8::1]",
    "2001:db8::1/64",
    "2001:db8:::1",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "fe80::1%",
    "ann@example.com",
  ])("stores nothing for %j, which is not an IP address", (text) => {
    expect(truncatedIp(text)).toBe("");
  });

  it("truncates under the default policy, keeps the value as given under full, and keeps nothing under none", () => {
    const given = ["192.0.2.17", "2001:db8:85a3:8d3:1319:8a2e:370:7348", "not an address"];
    expect(given.map((ip) => storedClickIp(ip, "truncated"))).toEqual(["192.0.2.0", "2001:db8:85a3::", ""]);
    expect(given.map((ip) => storedClickIp(ip, "full"))).toEqual(given);
    expect(given.map((ip) => storedClickIp(ip, "none"))).toEqual(["", "", ""]);
  });
});

describe("STORE_CLICK_IP", () => {
  it("defaults to truncated and accepts full and none", () => {
    expect(loadDeliveryStatusSettings({}).clickIp).toBe("truncated");
    expect(loadDeliveryStatusSettings({ STORE_CLICK_IP: "full" }).clickIp).toBe("full");
    expect(loadDeliveryStatusSettings({ STORE_CLICK_IP: "none" }).clickIp).toBe("none");
  });

  it.each(["partial", "24", "FULL"])("stops start-up on %j with an error naming the variable", (value) => {
    expect(() => loadDeliveryStatusSettings({ STORE_CLICK_IP: value })).toThrow(ConfigError);
    expect(() => loadDeliveryStatusSettings({ STORE_CLICK_IP: value })).toThrow(/^STORE_CLICK_IP: /);
  });
});

describe("the click IP address delivery status stores, end to end through JetStream", () => {
  const ipv4 = "192.0.2.17";
  const ipv6 = "2001:db8:85a3:8d3:1319:8a2e:370:7348";
  const mapped = "::ffff:198.51.100.7";
  let natsUrl: string;
  let publisher: NatsHandles;

  beforeAll(async () => {
    natsUrl = (await privateNats()).url;
    publisher = await connectNats(natsUrl, "click-ip-test", createLogger({}, "error"));
    await ensureStreams(publisher.jsm, { eventsMaxAgeMs: 3_600_000, duplicateWindowMs: 120_000 });
  });
  afterAll(async () => {
    await publisher?.nc.close();
  });

  const publishClick = (ws: string, svixId: string, ipAddress: string) =>
    publishEnvelope(publisher.js, emailEnvelope("resend", ws, "email.clicked", { eventId: svixId, messageId: "e1" }, { click: { link: "https://example.com/a", ipAddress } }), {
      useMsgId: false,
    });

  // One service at a time on one NATS: instances at once would share the durable consumer and its events.
  it.each([
    ["unset", [ipv4, ipv6, mapped].map(truncatedIp), {}],
    ["truncated", [ipv4, ipv6, mapped].map(truncatedIp), { STORE_CLICK_IP: "truncated" }],
    ["full", [ipv4, ipv6, mapped], { STORE_CLICK_IP: "full" }],
    ["none", ["", "", ""], { STORE_CLICK_IP: "none" }],
  ])("with STORE_CLICK_IP %s, the timeline entries of IPv4, IPv6 and IPv4-mapped clicks hold %j", async (_policy, stored, env) => {
    const ws = uniqueName("ws");
    // Two clicks waiting before the service starts are applied in one batch (handleBatch), the third alone (handle).
    await publishClick(ws, "click_0", ipv4);
    await publishClick(ws, "click_1", ipv6);
    const settings = loadDeliveryStatusSettings({ DELIVERY_STATUS_PORT: "0", ...env });
    const service = await startService(deliveryStatusService(settings), testBaseConfig({ natsUrl }));
    try {
      const api = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
      const timelineOf = (count: number) =>
        waitFor(async () => {
          const { events } = await api.listSendEvents({ workspaceId: ws, emailId: "e1", pageSize: 10 });
          return events.length === count ? events : undefined;
        }, { what: `${count} clicks on the timeline` });
      await timelineOf(2);
      await publishClick(ws, "click_2", mapped);
      const events = await timelineOf(3);
      const served = events.map((event) => [event.svixId, event.detail.case === "click" ? event.detail.value.ipAddress : "no click"]).sort();
      expect(served).toEqual(stored.map((ipAddress, index) => [`click_${index}`, ipAddress]));

      // What MongoDB holds, not only what the API shows: a whole address must not be stored at all.
      const documents = await service.context.mongo.db.collection("delivery_timeline").find({ workspaceId: ws }).sort({ svixId: 1 }).toArray();
      expect(documents.map((document) => document.click?.ipAddress)).toEqual(stored);
    } finally {
      await service.stop();
    }
  });
});
