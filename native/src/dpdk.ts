import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type EalStarted, loadAddon } from './addon';

export interface EalOptions {
  /** Virtual devices, e.g. `net_null0`, `net_af_packet0,iface=veth0`. */
  vdevs?: string[];
  /** Use malloc'd memory instead of hugepages (default true). */
  noHuge?: boolean;
  /** Memory in MiB (default 256). */
  memoryMb?: number;
  /** A unique prefix for DPDK's runtime files (default braid-<pid>-<random>). */
  filePrefix?: string;
  /** PCI devices to allow; none (the default) disables the PCI bus. */
  pciAllow?: string[];
  /** Extra EAL arguments, appended last. */
  extra?: string[];
  /** EAL log level (default warning). */
  logLevel?: 'emerg' | 'alert' | 'crit' | 'error' | 'warning' | 'notice' | 'info' | 'debug';
}

const DPDK_RUN_DIR = '/var/run/dpdk';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove DPDK runtime directories that Braid processes now gone left behind
 * (a process killed before it could stop EAL). Returns what was removed. */
export function sweepStaleEalDirs(): string[] {
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync(DPDK_RUN_DIR);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = /^braid-(\d+)-[0-9a-f]+$/.exec(name);
    if (m && !pidAlive(Number(m[1]))) {
      fs.rmSync(path.join(DPDK_RUN_DIR, name), { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed;
}

/** The EAL argument list for these options: the defaults suit virtual devices
 * on a machine without hugepages. */
export function ealArgs(opts: EalOptions = {}): { args: string[]; filePrefix: string } {
  if (!opts.filePrefix) sweepStaleEalDirs();
  const filePrefix =
    opts.filePrefix ?? `braid-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  const args: string[] = [];
  if (opts.noHuge ?? true) args.push('--no-huge');
  args.push('-m', String(opts.memoryMb ?? 256));
  args.push(`--file-prefix=${filePrefix}`);
  args.push('--no-telemetry');
  args.push(`--log-level=${opts.logLevel ?? 'warning'}`);
  if (opts.pciAllow?.length) for (const a of opts.pciAllow) args.push('-a', a);
  else args.push('--no-pci');
  for (const v of opts.vdevs ?? []) args.push(`--vdev=${v}`);
  // memif's zero-copy lends the peer EAL's memory as one file per memseg
  // list: the PMD refuses the devarg unless EAL says so.
  if ((opts.vdevs ?? []).some((v) => /^net_memif[^,]*,(.*,)?zero-copy=yes(,|$)/.test(v)))
    args.push('--single-file-segments');
  args.push(...(opts.extra ?? []));
  return { args, filePrefix };
}

/** Start DPDK's EAL in this process (once per process). */
export function startEal(opts: EalOptions = {}): EalStarted & { filePrefix: string } {
  const { args, filePrefix } = ealArgs(opts);
  return { ...loadAddon().ealInit(args), filePrefix };
}

/** Close the ports, stop EAL and remove its runtime directory. */
export function stopEal(filePrefix?: string): void {
  loadAddon().ealCleanup();
  if (filePrefix && /^[A-Za-z0-9_.-]+$/.test(filePrefix)) {
    fs.rmSync(path.join(DPDK_RUN_DIR, filePrefix), { recursive: true, force: true });
  }
}
