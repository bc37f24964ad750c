/**
 * `npm run demo`. The full demo needs the dataplane node, the SDK and the
 * testbed, which are still being built; until then it says so plainly.
 */
export async function demoMain(_argv: string[]): Promise<number> {
  process.stderr.write(
    [
      'braid demo: not available yet.',
      '',
      'When complete, this one command will start the multi-path testbed (network',
      'namespaces, the link emulator), NATS and the controller, two Braid nodes and an',
      'SDK application moving data over three paths; show live per-subflow throughput',
      'and RTT; blackhole a path and show the connection carrying on and what the',
      'controller did; print a summary and clean up.',
      '',
      'What works today: `npx braid --help`, `npx braid dpdk info --vdev net_null0`,',
      'and `npm test`.',
      '',
    ].join('\n'),
  );
  return 1;
}
