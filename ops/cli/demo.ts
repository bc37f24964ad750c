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
      'What works today (npx braid <command> --help for each):',
      '  braid testbed up|down|status   client and server namespaces over paths through',
      '                                the DPDK link emulator, kernel MPTCP endpoints',
      '  braid emu                      the link emulator on its own',
      '  braid perf                     Braid TCP on DPDK, or --kernel, iperf3-style JSON',
      '  braid sim                      the engine in the virtual-time simulator',
      '  braid controller / braid ctl   the SDN controller and its API',
      "  braid bench seed               the seed talk's charts (kernel TCP/MPTCP, Braid TCP)",
      '  npm test                       every check',
      '',
    ].join('\n'),
  );
  return 1;
}
