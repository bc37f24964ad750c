/* SPDX-License-Identifier: Apache-2.0
 * Counter and info name tables, so that tools print them generically. */
#include <stddef.h>
#include <string.h>

#include "tcp_impl.h"

#define M(f)                                                                   \
	{                                                                      \
#f, (uint16_t)offsetof(struct bd_tcp_mib, f), 8                \
	}
const struct bd_tcp_field bd_tcp_mib_fields[] = {
    M(ActiveOpens),
    M(PassiveOpens),
    M(AttemptFails),
    M(EstabResets),
    M(CurrEstab),
    M(InSegs),
    M(OutSegs),
    M(RetransSegs),
    M(InErrs),
    M(OutRsts),
    M(InCsumErrors),
    M(SyncookiesSent),
    M(EmbryonicRsts),
    M(TW),
    M(TWRecycled),
    M(TWKilled),
    M(PAWSActive),
    M(PAWSEstab),
    M(DelayedACKs),
    M(ListenOverflows),
    M(ListenDrops),
    M(TCPHPHits),
    M(TCPPureAcks),
    M(TCPHPAcks),
    M(TCPSackRecovery),
    M(TCPRenoRecovery),
    M(TCPSACKReneging),
    M(TCPSackFailures),
    M(TCPLossFailures),
    M(TCPFastRetrans),
    M(TCPSlowStartRetrans),
    M(TCPTimeouts),
    M(TCPLossProbes),
    M(TCPRenoRecoveryFail),
    M(TCPSackRecoveryFail),
    M(TCPDSACKOldSent),
    M(TCPDSACKOfoSent),
    M(TCPDSACKRecv),
    M(TCPDSACKOfoRecv),
    M(TCPAbortOnData),
    M(TCPAbortOnClose),
    M(TCPAbortOnTimeout),
    M(TCPAbortOnLinger),
    M(TCPAbortFailed),
    M(TCPSACKDiscard),
    M(TCPDSACKIgnoredOld),
    M(TCPSpuriousRTOs),
    M(TCPSackShifted),
    M(TCPSackMerged),
    M(TCPBacklogDrop),
    M(TCPOFOQueue),
    M(TCPOFODrop),
    M(TCPOFOMerge),
    M(TCPChallengeACK),
    M(TCPSYNChallenge),
    M(TCPChallengeACKLimit),
    M(TCPFastOpenActive),
    M(TCPSpuriousRtxHostQueues),
    M(TCPRcvCoalesce),
    M(TCPZeroWindowDrop),
    M(TCPRcvQDrop),
    M(TCPWantZeroWindowAdv),
    M(TCPToZeroWindowAdv),
    M(TCPFromZeroWindowAdv),
    M(TCPWinProbe),
    M(TCPKeepAlive),
    M(TCPOrigDataSent),
    M(TCPACKSkippedPAWS),
    M(TCPACKSkippedSeq),
    M(TCPACKSkippedChallenge),
    M(TCPACKSkippedTimeWait),
    M(TCPDelivered),
    M(TCPAckCompressed),
    M(TCPTimeWaitOverflow),
    M(OutOfWindowIcmps),
    M(TCPMemoryPressures),
    M(TCPLostRetransmit),
    M(BraidDropShort),
    M(BraidDropBadDoff),
    M(BraidDropBadCsum),
    M(BraidDropBadOption),
    M(BraidDropBadFlags),
    M(BraidDropBadPort),
    M(BraidDropBadAddr),
    M(BraidDropOutOfWindow),
    M(BraidDropBadAck),
    M(BraidDropNoSocket),
    M(BraidDropNoMem),
    M(BraidDropState),
    M(BraidDropUlp),
    M(BraidDropRst),
    M(BraidDropSynRecvAck),
    M(BraidOutNoMem),
    M(BraidOutErrors),
    M(BraidRtoMax),
    M(BraidEphemeralExhausted),
    M(TCPHystartDelayDetect),
    {NULL, 0, 0},
};
#undef M

#define I(f, sz)                                                               \
	{                                                                      \
#f, (uint16_t)offsetof(struct bd_tcp_info, f), sz              \
	}
const struct bd_tcp_field bd_tcp_info_fields[] = {
    I(state, 4),
    I(ca_state, 4),
    I(retransmits, 4),
    I(probes, 4),
    I(backoff, 4),
    I(options, 4),
    I(snd_wscale, 4),
    I(rcv_wscale, 4),
    I(rto, 4),
    I(snd_mss, 4),
    I(rcv_mss, 4),
    I(unacked, 4),
    I(sacked, 4),
    I(lost, 4),
    I(retrans, 4),
    I(last_data_sent, 4),
    I(last_data_recv, 4),
    I(last_ack_recv, 4),
    I(rtt, 4),
    I(rttvar, 4),
    I(min_rtt, 4),
    I(snd_ssthresh, 4),
    I(snd_cwnd, 4),
    I(advmss, 4),
    I(total_retrans, 4),
    I(snd_wnd, 4),
    I(rcv_wnd, 4),
    I(notsent_bytes, 4),
    I(snd_cwnd_bytes, 4),
    I(pipe, 4),
    I(dsack_dups, 4),
    I(reord_seen, 4),
    I(bytes_sent, 8),
    I(bytes_retrans, 8),
    I(bytes_acked, 8),
    I(bytes_received, 8),
    I(segs_out, 8),
    I(segs_in, 8),
    I(data_segs_out, 8),
    I(data_segs_in, 8),
    I(delivery_rate, 8),
    {NULL, 0, 0},
};
#undef I

const struct bd_tcp_mib *bd_tcp_get_mib(const struct bd_tcp_stack *ts)
{
	return &ts->mib;
}

uint64_t bd_tcp_mib_get(const struct bd_tcp_stack *ts, const char *name)
{
	for (const struct bd_tcp_field *f = bd_tcp_mib_fields; f->name; f++) {
		if (strcmp(f->name, name) == 0) {
			uint64_t v;
			memcpy(&v, (const uint8_t *)&ts->mib + f->offset, 8);
			return v;
		}
	}
	return UINT64_MAX;
}
