/**
 * Braid's mptcp_info (braid/mptcp.h struct bd_mptcp_info, Linux's field
 * names) as the addon gives it: a runtime job's `ConnResult.mptcp.info` and
 * the simulator's `SimResult.mptcp[].info`.
 *
 * The rule (native/addon/addon.h, MptcpFieldsToJs): the three 64-bit data
 * sequence numbers are always BigInt, exact. They start at a random IDSN, so
 * they are almost always above Number.MAX_SAFE_INTEGER, where a number would
 * lose the low bits; the kernel path's mptcp_info (sdk/src/kernel.ts) gives
 * them as BigInt too. Every other field is a number (counts, sizes, flags,
 * the 32-bit token). In JSON the sequence numbers are decimal strings
 * (native/src/json.ts).
 */

/** The fields that are BigInt. */
export const MPTCP_INFO_DSN_FIELDS = [
  'mptcpi_write_seq',
  'mptcpi_snd_una',
  'mptcpi_rcv_nxt',
] as const;

export type MptcpInfoDsnField = (typeof MPTCP_INFO_DSN_FIELDS)[number];

export interface MptcpInfo {
  mptcpi_subflows: number;
  mptcpi_add_addr_signal: number;
  mptcpi_add_addr_accepted: number;
  mptcpi_subflows_max: number;
  mptcpi_add_addr_signal_max: number;
  mptcpi_add_addr_accepted_max: number;
  /** MPTCP_INFO_FLAG_FALLBACK 0x1, MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED 0x2. */
  mptcpi_flags: number;
  mptcpi_token: number;
  /** Data sequence number of the next byte the application writes (DATA_FIN
   * included once sent). */
  mptcpi_write_seq: bigint;
  /** First data sequence number not yet acknowledged by the peer (DATA_ACK). */
  mptcpi_snd_una: bigint;
  /** Next data sequence number expected from the peer. */
  mptcpi_rcv_nxt: bigint;
  mptcpi_local_addr_used: number;
  mptcpi_local_addr_max: number;
  mptcpi_csum_enabled: number;
  mptcpi_retransmits: number;
  mptcpi_bytes_retrans: number;
  mptcpi_bytes_sent: number;
  mptcpi_bytes_received: number;
  mptcpi_bytes_acked: number;
  mptcpi_subflows_total: number;
  mptcpi_last_data_sent: number;
  mptcpi_last_data_recv: number;
  mptcpi_last_ack_recv: number;
}
