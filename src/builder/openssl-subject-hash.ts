import { createHash, X509Certificate } from 'node:crypto';

/*
 * OpenSSL's subject name hash (X509_NAME_hash_ex, what `openssl x509 -subject_hash` prints and
 * what `openssl rehash` names CApath links after), computed without OpenSSL. Node's
 * X509Certificate gives the DER but not the hash, and the canonical form OpenSSL hashes is its
 * own (lowercased, whitespace-collapsed UTF8String values, RDN SETs without the outer SEQUENCE),
 * so the few DER steps below are written out; tests compare every Mozilla root with `openssl`.
 */

interface Tlv {
  readonly tag: number;
  /** Start of the whole element (tag byte). */
  readonly start: number;
  /** Start of the content octets. */
  readonly body: number;
  /** End of the element (exclusive). */
  readonly end: number;
}

function readTlv(der: Buffer, offset: number): Tlv {
  const tag = der[offset];
  let lengthByte = der[offset + 1];
  if (tag === undefined || lengthByte === undefined || (tag & 0x1f) === 0x1f) {
    throw new Error(`unsupported or truncated DER element at offset ${offset}`);
  }
  let body = offset + 2;
  let length = lengthByte;
  if (lengthByte & 0x80) {
    const count = lengthByte & 0x7f;
    if (count === 0 || count > 4) throw new Error(`unsupported DER length at offset ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) {
      lengthByte = der[body + i];
      if (lengthByte === undefined) throw new Error(`truncated DER length at offset ${offset}`);
      length = length * 256 + lengthByte;
    }
    body += count;
  }
  const end = body + length;
  if (end > der.length) throw new Error(`DER element at offset ${offset} runs past the end`);
  return { tag, start: offset, body, end };
}

function children(der: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let offset = parent.body; offset < parent.end; ) {
    const child = readTlv(der, offset);
    out.push(child);
    offset = child.end;
  }
  return out;
}

function encodeTlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let header: number[];
  if (n < 0x80) header = [tag, n];
  else {
    const bytes: number[] = [];
    for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
    header = [tag, 0x80 | bytes.length, ...bytes];
  }
  return Buffer.concat([Buffer.from(header), content]);
}

const UTF8_STRING = 0x0c;
/** The string types OpenSSL canonicalises (ASN1_MASK_CANON); other values are hashed as they are. */
const STRING_DECODERS: Record<number, (bytes: Buffer) => string> = {
  12: (b) => b.toString('utf8'), // UTF8String
  19: (b) => b.toString('latin1'), // PrintableString
  20: (b) => b.toString('latin1'), // T61String: OpenSSL reads it as Latin-1
  22: (b) => b.toString('latin1'), // IA5String
  26: (b) => b.toString('latin1'), // VisibleString
  30: (b) => Buffer.from(b).swap16().toString('utf16le'), // BMPString (UTF-16BE)
  28: (b) => {
    // UniversalString (UTF-32BE)
    let s = '';
    for (let i = 0; i + 3 < b.length; i += 4) s += String.fromCodePoint(b.readUInt32BE(i));
    return s;
  },
};

const isAsciiSpace = (byte: number): boolean => byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);

/** asn1_string_canon: trim and collapse ASCII whitespace, lowercase ASCII letters, keep other bytes. */
function canonicalValue(tag: number, content: Buffer): Buffer | undefined {
  const decode = STRING_DECODERS[tag];
  if (!decode) return undefined;
  const utf8 = Buffer.from(decode(content), 'utf8');
  let from = 0;
  let to = utf8.length;
  while (from < to && isAsciiSpace(utf8[from]!)) from++;
  while (to > from && isAsciiSpace(utf8[to - 1]!)) to--;
  const out: number[] = [];
  for (let i = from; i < to; i++) {
    const byte = utf8[i]!;
    if (byte & 0x80) out.push(byte);
    else if (isAsciiSpace(byte)) {
      while (i + 1 < to && isAsciiSpace(utf8[i + 1]!)) i++;
      out.push(0x20);
    } else out.push(byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte);
  }
  return Buffer.from(out);
}

/** The canonical encoding of a Name: each RDN SET re-encoded with canonical values, concatenated. */
function canonicalName(der: Buffer, name: Tlv): Buffer {
  // OpenSSL re-encodes everything (so lengths are minimal) and leaves out RDNs with no attribute.
  const reencode = (tlv: Tlv): Buffer => encodeTlv(tlv.tag, der.subarray(tlv.body, tlv.end));
  const rdns = children(der, name).filter((rdn) => rdn.end > rdn.body);
  const sets = rdns.map((rdn) => {
    const avas = children(der, rdn).map((ava) => {
      const [type, value] = children(der, ava);
      if (!type || !value) throw new Error('malformed AttributeTypeAndValue in certificate subject');
      const canon = canonicalValue(value.tag, der.subarray(value.body, value.end));
      const encodedValue = canon ? encodeTlv(UTF8_STRING, canon) : reencode(value);
      return encodeTlv(0x30, Buffer.concat([reencode(type), encodedValue]));
    });
    // DER orders the members of a SET OF by their encodings.
    return encodeTlv(0x31, Buffer.concat(avas.sort(Buffer.compare)));
  });
  return Buffer.concat(sets);
}

/** The subject Name element of a certificate's DER encoding. */
function subjectOf(der: Buffer): Tlv {
  const certificate = readTlv(der, 0);
  const [tbs] = children(der, certificate);
  if (!tbs) throw new Error('certificate has no tbsCertificate');
  const fields = children(der, tbs);
  // tbsCertificate: [0] version (optional), serialNumber, signature, issuer, validity, subject, ...
  const first = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[first + 4];
  if (subject?.tag !== 0x30) throw new Error('certificate subject is not a Name');
  return subject;
}

/** `openssl x509 -subject_hash` of one PEM or DER certificate: 8 lowercase hex digits. */
export function opensslSubjectHash(certificate: Buffer | string): string {
  const der = Buffer.from(new X509Certificate(certificate).raw);
  const md = createHash('sha1')
    .update(canonicalName(der, subjectOf(der)))
    .digest();
  // OpenSSL reads the first four digest bytes as a little-endian number.
  return md.readUInt32LE(0).toString(16).padStart(8, '0');
}

/** The SHA-1 fingerprint `openssl rehash` uses to skip a certificate that is already linked. */
export function certificateFingerprint(certificate: Buffer | string): string {
  return new X509Certificate(certificate).fingerprint;
}
