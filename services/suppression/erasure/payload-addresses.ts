/**
 * Whether a stored message's bytes name one of some addresses, for the stream purge (stream-purge.ts).
 * Matched on the raw bytes, ASCII case-insensitively, wherever they sit: a protobuf string field, the
 * raw webhook body in an envelope, JSON inside a JSON string (SNS), a URL in a click event.
 *
 * An occurrence counts only at a boundary, so "bob@x.com" is not found in "jimbob@x.com" or
 * "bob@x.com.au": the character before must not be one a local part is made of, the one after not a
 * domain character (a lone trailing "." ends a sentence, not a domain). Two characters RFC 5322 allows
 * in a local part count as boundaries because real payloads put them before an address far more often
 * than real addresses contain them: "=" (`?email=bob@x.com` in a link) and "/" (`/unsubscribe/bob@x.com`,
 * `identity/bob@x.com` in an SES ARN). Matching a stranger's address that ends in the erased one
 * deletes a message every consumer already applied; missing the erased one keeps personal data.
 *
 * A JSON or URL escape right before the address is read as the character it stands for
 * (`\u003cbob@x.com\u003e` from encoders that escape "<", `\nbob@x.com`, `%3Cbob%40x.com`), and the
 * start and end of a protobuf length-delimited field are boundaries whatever the bytes around them are
 * (the length and the next tag are bytes such as "+" or "2"). The "@" may itself be escaped
 * (`\u0040`, `\\u0040` inside an SNS message, `%40`), and non-ASCII characters may be `\uXXXX`.
 */

const charClass = (chars: string): Uint8Array => {
  const table = new Uint8Array(256);
  for (let code = 0; code < 256; code++) {
    const char = String.fromCharCode(code);
    if (/[a-z0-9]/i.test(char) || chars.includes(char)) table[code] = 1;
  }
  return table;
};

/** atext and ".", less "=" and "/" (see above). */
const localChars = charClass("!#$%&'*+-.?^_`{|}~");
const domainChars = charClass("-.");

const lower = (byte: number) => (byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte);
const isHex = (byte: number | undefined) => byte !== undefined && ((byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66));
const backslash = 0x5c;

/** The ways an address is written in stored bytes, ASCII lower-cased. */
function writtenForms(address: string): Buffer[] {
  const asciiOnly = address.replace(/[^\x00-\x7f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
  const forms = new Set<string>();
  for (const base of [address, asciiOnly]) {
    for (const at of ["@", "\\u0040", "\\\\u0040", "%40"]) forms.add(base.replace("@", at).toLowerCase());
  }
  return [...forms].map((form) => Buffer.from(form, "utf8"));
}

/** The character just before `index`, an escape read as what it stands for; undefined at the start. */
function charBefore(bytes: Buffer, index: number): number | undefined {
  if (index === 0) return undefined;
  if (index >= 6 && bytes[index - 6] === backslash && bytes[index - 5] === 0x75 && [1, 2, 3, 4].every((k) => isHex(bytes[index - 5 + k]))) {
    return parseInt(bytes.toString("latin1", index - 4, index), 16);
  }
  if (index >= 2 && bytes[index - 2] === backslash && "nrtbf".includes(String.fromCharCode(bytes[index - 1]!))) return 0x0a;
  if (index >= 3 && bytes[index - 3] === 0x25 && isHex(bytes[index - 2]) && isHex(bytes[index - 1])) {
    return parseInt(bytes.toString("latin1", index - 2, index), 16);
  }
  return bytes[index - 1];
}

function endsAtBoundary(bytes: Buffer, end: number): boolean {
  const next = bytes[end];
  if (next === undefined || !domainChars[next]) return true;
  if (next !== 0x2e) return false;
  const afterDot = bytes[end + 1];
  return afterDot === undefined || !domainChars[afterDot] || afterDot === 0x2e;
}

function readVarint(bytes: Buffer, index: number, end: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let shift = 0, i = index; i < end && shift < 35; shift += 7, i++) {
    value += (bytes[i]! & 0x7f) * 2 ** shift;
    if ((bytes[i]! & 0x80) === 0) return { value, next: i + 1 };
  }
  return undefined;
}

/**
 * Collects the start and end of every length-delimited field of `bytes[from, to)` read as protobuf,
 * nested ones included; false (and nothing kept) when the range is not protobuf.
 */
function collectFields(bytes: Buffer, from: number, to: number, depth: number, starts: Set<number>, ends: Set<number>): boolean {
  const found: [number, number][] = [];
  for (let i = from; i < to; ) {
    const tag = readVarint(bytes, i, to);
    if (!tag || tag.value < 8) return false;
    i = tag.next;
    const wireType = tag.value % 8;
    if (wireType === 0) {
      const value = readVarint(bytes, i, Math.min(to, i + 10));
      if (!value) return false;
      i = value.next;
    } else if (wireType === 1 || wireType === 5) {
      i += wireType === 1 ? 8 : 4;
      if (i > to) return false;
    } else if (wireType === 2) {
      const length = readVarint(bytes, i, to);
      if (!length || length.next + length.value > to) return false;
      found.push([length.next, length.next + length.value]);
      i = length.next + length.value;
    } else {
      return false;
    }
  }
  for (const [start, end] of found) {
    starts.add(start);
    ends.add(end);
    if (depth < 8) collectFields(bytes, start, end, depth + 1, starts, ends);
  }
  return true;
}

/** A predicate telling whether a payload names one of `addresses` (normalised addresses). */
export function addressMatcher(addresses: readonly string[]): (payload: Uint8Array) => boolean {
  const forms = addresses.filter((address) => address.length > 0).flatMap(writtenForms);
  return (payload) => {
    if (forms.length === 0) return false;
    const raw = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const bytes = Buffer.from(raw); // a copy, folded to lower case; the protobuf walk reads the raw bytes
    for (let i = 0; i < bytes.length; i++) bytes[i] = lower(bytes[i]!);
    let fields: { starts: Set<number>; ends: Set<number> } | undefined;
    const fieldsOf = () => {
      if (!fields) {
        fields = { starts: new Set(), ends: new Set() };
        collectFields(raw, 0, raw.length, 0, fields.starts, fields.ends);
      }
      return fields;
    };
    for (const form of forms) {
      for (let at = bytes.indexOf(form); at !== -1; at = bytes.indexOf(form, at + 1)) {
        const end = at + form.length;
        const before = charBefore(bytes, at);
        const startsClean = before === undefined || before > 0xff || !localChars[before] || fieldsOf().starts.has(at);
        if (startsClean && (endsAtBoundary(bytes, end) || fieldsOf().ends.has(end))) return true;
      }
    }
    return false;
  };
}
