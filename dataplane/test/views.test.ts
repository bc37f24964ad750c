/** The node's views of its connections satisfy the control-plane schemas. */
import { check } from '../../schemas/src/index';
import type { NodeConfig } from '../../schemas/gen/types';
import type { HostConn } from '../../native/src/nodehost';
import { connId, connectionSnapshot, parseConnId } from '../src/views';

const cfg: NodeConfig = {
  id: 'n1',
  ports: [
    { name: 'p0', device: 'net_af_packet0,iface=p0', address: '10.200.1.11/24' },
    { name: 'p1', device: 'net_af_packet1,iface=p1', address: '10.200.2.11/24', backup: true },
  ],
};

const tcp = (state: string, acked: number) =>
  ({ state_name: state, rtt: 10000, snd_cwnd: 10, bytes_acked: acked }) as never;

const conn: HostConn = {
  worker: 1,
  app: 3,
  slot: 17,
  gen: 2,
  name: 'app[42]',
  pid: 42,
  listener: false,
  state: 'open',
  transport: 'mptcp',
  laddr: { family: 4, address: '10.200.1.11', port: 40000 },
  raddr: { family: 4, address: '10.200.1.12', port: 7000 },
  bytesToApp: 0,
  bytesFromApp: 100,
  info: {
    transport: 'mptcp',
    mptcp: true,
    subflows: [
      {
        laddr: { family: 4, address: '10.200.1.11', port: 40000 },
        raddr: { family: 4, address: '10.200.1.12', port: 7000 },
        tcp: tcp('ESTABLISHED', 1000),
      },
      {
        laddr: { family: 4, address: '10.200.2.11', port: 40001 },
        raddr: { family: 4, address: '10.200.2.12', port: 7000 },
        tcp: tcp('ESTABLISHED', 500),
      },
    ],
  },
} as HostConn;

test('connection ids round-trip and are valid telemetry ids', () => {
  expect(connId(conn)).toBe('1-3-17-2');
  expect(parseConnId(connId(conn))).toEqual({ worker: 1, app: 3, slot: 17, gen: 2 });
  expect(parseConnId('1.3.17.2')).toBeUndefined();
});

test('a telemetry batch of node snapshots passes the telemetry schema', () => {
  const snap = connectionSnapshot(conn, cfg);
  expect(snap.subflows.map((s) => [s.id, s.priority, s.port])).toEqual([
    ['0', 'regular', 'p0'],
    ['1', 'backup', 'p1'],
  ]);
  const batch = { v: 1, node_id: 'n1', seq: 1, ts: Date.now(), connections: [snap] };
  expect(check('telemetry', batch)).toEqual([]);
});

test("subflow priority: the engine's (set_subflow_priority, MP_PRIO) when it says", () => {
  const subs = conn.info!.subflows;
  const c = {
    ...conn,
    info: {
      ...conn.info!,
      subflows: [
        { ...subs[0]!, backup: true, peerBackup: false },
        { ...subs[1]!, backup: false, peerBackup: true },
      ],
    },
  } as HostConn;
  const snap = connectionSnapshot(c, cfg);
  expect(snap.subflows.map((s) => s.priority)).toEqual(['backup', 'regular']);
  expect(
    check('telemetry', { v: 1, node_id: 'n1', seq: 2, ts: Date.now(), connections: [snap] }),
  ).toEqual([]);
});
