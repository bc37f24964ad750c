import { parseArgs } from 'node:util';
import { startEal, stopEal } from '../../native/src/dpdk';

const HELP = `Usage: braid dpdk info [--vdev DEV]... [--pci ADDR]... [--memory MB] [--json]

Starts DPDK's EAL in this process (no hugepages, a unique --file-prefix),
prints the DPDK version and the ports it sees, then stops it again.

  --vdev DEV     a virtual device, e.g. net_null0 or net_af_packet0,iface=veth0
  --pci ADDR     a PCI device to use (default: the PCI bus is not probed)
  --memory MB    EAL memory (default 256)
  --huge         use hugepages instead of --no-huge
  --json         print JSON
`;

export async function dpdkMain(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      vdev: { type: 'string', multiple: true },
      pci: { type: 'string', multiple: true },
      memory: { type: 'string' },
      huge: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals[0] !== 'info') {
    process.stderr.write(`braid dpdk: expected "info"\n\n${HELP}`);
    return 2;
  }
  const memoryMb = values.memory === undefined ? undefined : Number(values.memory);
  if (memoryMb !== undefined && !(Number.isInteger(memoryMb) && memoryMb >= 16)) {
    process.stderr.write(`braid dpdk: --memory must be a whole number of MiB >= 16\n`);
    return 2;
  }
  let started;
  try {
    started = startEal({
      vdevs: values.vdev ?? [],
      pciAllow: values.pci ?? [],
      noHuge: !values.huge,
      ...(memoryMb === undefined ? {} : { memoryMb }),
    });
  } catch (e) {
    process.stderr.write(`braid dpdk: ${(e as Error).message}\n`);
    return 1;
  }
  stopEal(started.filePrefix);
  if (values.json) {
    process.stdout.write(JSON.stringify(started, null, 2) + '\n');
  } else {
    process.stdout.write(
      `${started.version}, ${started.lcores} lcores, ${started.ports.length} ports\n`,
    );
    for (const p of started.ports) {
      process.stdout.write(`  ${p.id}: ${p.name} (${p.driver}) ${p.mac}\n`);
    }
  }
  return 0;
}
