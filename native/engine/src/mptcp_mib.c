/* SPDX-License-Identifier: Apache-2.0
 *
 * MPTCP counters under the kernel's MPTcpExt names, and the field table of
 * the mptcp_info-like per-connection snapshot.
 */
#include <stddef.h>
#include <string.h>

#include "braid/mptcp.h"

#define MIB(n)                                                                 \
	{                                                                      \
#n, offsetof(struct bd_mptcp_mib, n), 8, false                 \
	}

const struct bd_mptcp_field bd_mptcp_mib_fields[] = {
    MIB(MPCapableSYNRX),
    MIB(MPCapableSYNTX),
    MIB(MPCapableSYNACKRX),
    MIB(MPCapableACKRX),
    MIB(MPCapableFallbackACK),
    MIB(MPCapableFallbackSYNACK),
    MIB(MPFallbackTokenInit),
    MIB(MPTCPRetrans),
    MIB(MPJoinNoTokenFound),
    MIB(MPJoinSynRx),
    MIB(MPJoinSynBackupRx),
    MIB(MPJoinSynAckRx),
    MIB(MPJoinSynAckBackupRx),
    MIB(MPJoinSynAckHMacFailure),
    MIB(MPJoinAckRx),
    MIB(MPJoinAckHMacFailure),
    MIB(MPJoinSynTx),
    MIB(MPJoinSynTxCreatSkErr),
    MIB(DSSNotMatching),
    MIB(DSSCorruptionFallback),
    MIB(DSSCorruptionReset),
    MIB(InfiniteMapTx),
    MIB(InfiniteMapRx),
    MIB(DSSNoMatchTCP),
    MIB(DataCsumErr),
    MIB(OFOQueueTail),
    MIB(OFOQueue),
    MIB(OFOMerge),
    MIB(NoDSSInWindow),
    MIB(DuplicateData),
    MIB(AddAddr),
    MIB(AddAddrTx),
    MIB(AddAddrTxDrop),
    MIB(EchoAdd),
    MIB(EchoAddTx),
    MIB(AddAddrDrop),
    MIB(PortAdd),
    MIB(MismatchPortSynRx),
    MIB(RmAddr),
    MIB(RmAddrDrop),
    MIB(RmAddrTx),
    MIB(RmSubflow),
    MIB(MPPrioTx),
    MIB(MPPrioRx),
    MIB(MPFailTx),
    MIB(MPFailRx),
    MIB(MPFastcloseTx),
    MIB(MPFastcloseRx),
    MIB(MPRstTx),
    MIB(MPRstRx),
    MIB(RcvPruned),
    MIB(SubflowStale),
    MIB(SubflowRecover),
    MIB(SndWndShared),
    MIB(RcvWndShared),
    MIB(RcvWndConflictUpdate),
    MIB(MPCurrEstab),
    MIB(Blackhole),
    MIB(BraidOptBadLen),
    MIB(BraidOptBadFlags),
    MIB(BraidOptBadVersion),
    MIB(BraidOptBadSubtype),
    MIB(BraidOptBadContext),
    MIB(BraidReinjectBytes),
    MIB(BraidSubflowRetry),
    MIB(BraidSchedWait),
    MIB(BraidMapTableFull),
    MIB(BraidDataWndProbe),
    MIB(BraidPrioRtoRestart),
    MIB(BraidReclaimBytes),
    {NULL, 0, 0, false},
};

#define INFO_(n, is_seq)                                                       \
	{                                                                      \
#n, offsetof(struct bd_mptcp_info, n),                         \
		    sizeof(((struct bd_mptcp_info *)0)->n), is_seq             \
	}
#define INFO(n)	    INFO_(n, false)
#define INFO_SEQ(n) INFO_(n, true)

const struct bd_mptcp_field bd_mptcp_info_fields[] = {
    INFO(mptcpi_subflows),
    INFO(mptcpi_add_addr_signal),
    INFO(mptcpi_add_addr_accepted),
    INFO(mptcpi_subflows_max),
    INFO(mptcpi_add_addr_signal_max),
    INFO(mptcpi_add_addr_accepted_max),
    INFO(mptcpi_flags),
    INFO(mptcpi_token),
    INFO_SEQ(mptcpi_write_seq),
    INFO_SEQ(mptcpi_snd_una),
    INFO_SEQ(mptcpi_rcv_nxt),
    INFO(mptcpi_local_addr_used),
    INFO(mptcpi_local_addr_max),
    INFO(mptcpi_csum_enabled),
    INFO(mptcpi_retransmits),
    INFO(mptcpi_bytes_retrans),
    INFO(mptcpi_bytes_sent),
    INFO(mptcpi_bytes_received),
    INFO(mptcpi_bytes_acked),
    INFO(mptcpi_subflows_total),
    INFO(mptcpi_last_data_sent),
    INFO(mptcpi_last_data_recv),
    INFO(mptcpi_last_ack_recv),
    {NULL, 0, 0, false},
};

uint64_t bd_mptcp_mib_value(const struct bd_mptcp_mib *mib, const char *name)
{
	for (const struct bd_mptcp_field *f = bd_mptcp_mib_fields; f->name;
	     f++) {
		if (strcmp(f->name, name) == 0) {
			uint64_t v;
			memcpy(&v, (const uint8_t *)mib + f->offset, sizeof(v));
			return v;
		}
	}
	return UINT64_MAX;
}
