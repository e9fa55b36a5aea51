/**
 * How much of a click's IP address delivery status keeps (issue 17: less personal data by default). A
 * whole address can point at one subscriber's home or phone; its network — /24 of IPv4, /48 of IPv6, the
 * usual anonymisation prefixes — still tells roughly where and through which provider a click came.
 * STORE_CLICK_IP=full keeps the address as the provider sent it, `none` keeps nothing.
 */
import { isIP } from "node:net";

/** The values of STORE_CLICK_IP. */
export const clickIpPolicies = ["truncated", "full", "none"] as const;
export type ClickIpPolicy = (typeof clickIpPolicies)[number];
export const defaultClickIpPolicy: ClickIpPolicy = "truncated";

/** The click IP address to store under `policy`; "" stores none. */
export function storedClickIp(ipAddress: string, policy: ClickIpPolicy): string {
  if (policy === "full") return ipAddress;
  if (policy === "none") return "";
  return truncatedIp(ipAddress);
}

/**
 * The network of an IP address: IPv4 to /24 ("192.0.2.0"), IPv6 to /48 in its canonical short form
 * ("2001:db8:85a3::"), an IPv4-mapped IPv6 address (::ffff:192.0.2.17) as the IPv4 it carries, since
 * its /48 would keep nothing of it. Anything else gives "": a value we cannot truncate is dropped
 * rather than kept whole.
 */
export function truncatedIp(text: string): string {
  const address = text.trim();
  const version = isIP(address);
  if (version === 4) return ipv4Network(address.split(".").map(Number));
  if (version !== 6) return "";
  const groups = ipv6Groups(address);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return ipv4Network([groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff]);
  }
  // The last five groups are zeros, so they are the longest zero run: RFC 5952 writes them as "::".
  const kept = groups.slice(0, 3);
  while (kept.at(-1) === 0) kept.pop();
  return `${kept.map((group) => group.toString(16)).join(":")}::`;
}

function ipv4Network(octets: readonly number[]): string {
  return `${octets[0]}.${octets[1]}.${octets[2]}.0`;
}

/** The eight 16-bit groups of an address `isIP` accepted as IPv6 (any :: compression, dotted tail or zone id). */
function ipv6Groups(address: string): number[] {
  // A zone id (fe80::1%eth0) names an interface of the host that saw the address, not part of the address.
  const withoutZone = address.split("%")[0]!;
  const hex = withoutZone.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
    `${((Number(a) << 8) | Number(b)).toString(16)}:${((Number(c) << 8) | Number(d)).toString(16)}`,
  );
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((group) => parseInt(group, 16)));
  const [left, right] = hex.split("::");
  if (right === undefined) return parse(hex);
  const head = parse(left!);
  const tail = parse(right);
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}
