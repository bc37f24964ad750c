/**
 * JSON for results that hold BigInt: the 64-bit data sequence numbers of an
 * mptcp_info (native/src/mptcp-info.ts; sdk/src/kernel.ts on the kernel
 * path). JSON.stringify throws on a BigInt, and a JSON number would lose its
 * low bits in every reader that parses numbers as doubles, so Braid prints a
 * BigInt as a string of its decimal digits, exact:
 *
 *   "mptcpi_snd_una": "6623866005027694974"
 *
 * Every command and program that prints such a result uses toJson (or
 * bigintReplacer); a reader gets the value back with BigInt(s), or parses
 * with fromJson, which does it for the mptcp_info sequence numbers.
 */
import { MPTCP_INFO_DSN_FIELDS } from './mptcp-info';

/** JSON.stringify replacer: a BigInt becomes the string of its decimal digits. */
export function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** JSON.stringify with BigInt as decimal strings. */
export function toJson(value: unknown, space?: string | number): string {
  return JSON.stringify(value, bigintReplacer, space);
}

const DSN_KEYS: ReadonlySet<string> = new Set(MPTCP_INFO_DSN_FIELDS);
const DIGITS = /^[0-9]{1,20}$/;

/** JSON.parse reviver: the mptcp_info sequence numbers (mptcpi_write_seq,
 * mptcpi_snd_una, mptcpi_rcv_nxt) written by toJson back to BigInt. */
export function dsnReviver(key: string, value: unknown): unknown {
  return DSN_KEYS.has(key) && typeof value === 'string' && DIGITS.test(value)
    ? BigInt(value)
    : value;
}

/** JSON.parse that gives the mptcp_info sequence numbers back as BigInt. */
export function fromJson(text: string): unknown {
  return JSON.parse(text, dsnReviver) as unknown;
}
