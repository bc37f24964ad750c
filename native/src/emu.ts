/**
 * The DPDK link emulator (native/engine/src/dpdk_emu.c) from TypeScript: EAL
 * with one af_packet port per interface, the bridge on a worker lcore, and
 * run-time changes served on a Unix socket (one JSON object per line).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { assertValid, SchemaError } from '../../schemas/src/index';
import type { EmuCommand, EmuConfig, EmuLink } from '../../schemas/gen/types';
import { loadAddon } from './addon';
import { ealArgs, stopEal } from './dpdk';

/** A direction's parameters in force and its counters. */
export interface EmuLinkInfo {
  params: Required<Omit<EmuLink, 'down'>> & { down: boolean };
  stats: {
    sent_pkts: number;
    delivered_pkts: number;
    dropped: { queue: number; loss: number; burst: number; blackhole: number; nobuf: number };
    corrupted: number;
    duplicated: number;
    reordered: number;
    [k: string]: unknown;
  };
}

export interface EmuShow {
  pairs: { a: string; b: string; ab: EmuLinkInfo; ba: EmuLinkInfo }[];
  stats: { polls: number; sleeps: number; rx_frames: number; tx_frames: number; tx_drops: number };
}

interface EmuAddon {
  emuCreate(cfg: unknown): unknown;
  emuStart(h: unknown): void;
  emuSetLink(h: unknown, pair: number, dir: number, link: unknown): void;
  emuLinkInfo(h: unknown, pair: number, dir: number): EmuLinkInfo;
  emuStats(h: unknown): EmuShow['stats'];
  emuDestroy(h: unknown): void;
}

/** An unlimited, unimpaired link, overlaid with what the config gives. */
function linkOf(...layers: (EmuLink | undefined)[]): EmuLink {
  return Object.assign({ rate_mbps: 0 }, ...layers.filter(Boolean)) as EmuLink;
}

export class Emulator {
  private readonly addon: EmuAddon;
  private handle: unknown;
  private server?: net.Server;
  private readonly filePrefix: string;
  readonly config: EmuConfig;

  /** Start EAL in this process and the bridge. Throws with the reason. */
  constructor(config: EmuConfig) {
    this.config = assertValid<EmuConfig>('emu-config', config);
    this.addon = loadAddon() as unknown as EmuAddon;
    const vdevs: string[] = [];
    const pairs = this.config.pairs.map((p, i) => {
      vdevs.push(`net_af_packet${2 * i},iface=${p.a}`, `net_af_packet${2 * i + 1},iface=${p.b}`);
      return {
        a: `net_af_packet${2 * i}`,
        b: `net_af_packet${2 * i + 1}`,
        ab: linkOf(p.both, p.ab),
        ba: linkOf(p.both, p.ba),
      };
    });
    const { args, filePrefix } = ealArgs({
      vdevs,
      memoryMb: this.config.memory_mb ?? 256,
      extra: ['--lcores=(0-1)@(0-1)'],
    });
    this.filePrefix = filePrefix;
    loadAddon().ealInit(args);
    try {
      this.handle = this.addon.emuCreate({
        pairs,
        seed: this.config.seed ?? 1,
        idleSleepMaxUs: this.config.idle_sleep_max_us ?? 100,
      });
      this.addon.emuStart(this.handle);
    } catch (e) {
      stopEal(filePrefix);
      throw e;
    }
  }

  /** Change pair `pair` in direction `dir`; fields not given keep their value. */
  set(pair: number, dir: 'ab' | 'ba' | 'both', link: EmuLink): void {
    if (pair >= this.config.pairs.length) {
      throw new SchemaError('emu-command', [
        { pointer: '/pair', message: `there are ${this.config.pairs.length} pairs` },
      ]);
    }
    for (const d of dir === 'both' ? [0, 1] : [dir === 'ab' ? 0 : 1]) {
      const cur = this.addon.emuLinkInfo(this.handle, pair, d).params;
      this.addon.emuSetLink(this.handle, pair, d, { ...cur, ...link });
    }
  }

  show(): EmuShow {
    return {
      pairs: this.config.pairs.map((p, i) => ({
        a: p.a,
        b: p.b,
        ab: this.addon.emuLinkInfo(this.handle, i, 0),
        ba: this.addon.emuLinkInfo(this.handle, i, 1),
      })),
      stats: this.addon.emuStats(this.handle),
    };
  }

  /** Serve the control socket; `onStop` runs when a client asks to stop. */
  async serve(socketPath: string, onStop: () => void): Promise<void> {
    fs.mkdirSync(path.dirname(socketPath), { recursive: true });
    fs.rmSync(socketPath, { force: true });
    this.server = net.createServer((c) => {
      let buf = '';
      c.on('data', (d: Buffer) => {
        buf += d.toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) c.write(JSON.stringify(this.handle_(line, onStop)) + '\n');
        }
      });
      c.on('error', () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(socketPath, resolve);
    });
  }

  private handle_(line: string, onStop: () => void): unknown {
    try {
      const cmd = assertValid<EmuCommand>('emu-command', JSON.parse(line));
      if (cmd.op === 'set') {
        this.set(cmd.pair, cmd.dir ?? 'both', cmd.link);
        return { ok: true, show: this.show() };
      }
      if (cmd.op === 'stop') {
        setImmediate(onStop);
        return { ok: true };
      }
      return { ok: true, show: this.show() };
    } catch (e) {
      const err = e as Error & { pointer?: string };
      return { ok: false, error: err.message, ...(err.pointer ? { pointer: err.pointer } : {}) };
    }
  }

  /** Stop the bridge, close the ports and EAL, remove the socket. */
  close(): void {
    this.server?.close();
    if (this.handle) {
      this.addon.emuDestroy(this.handle);
      this.handle = undefined;
      stopEal(this.filePrefix);
    }
  }
}

/** Send one command to a running emulator's control socket. */
export function emuRequest(
  socketPath: string,
  cmd: EmuCommand,
  timeoutMs = 5000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no answer from the emulator at ${socketPath}`));
    }, timeoutMs);
    c.on('connect', () => c.write(JSON.stringify(cmd) + '\n'));
    c.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        c.end();
        resolve(JSON.parse(buf.slice(0, nl)));
      }
    });
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach the emulator at ${socketPath}: ${e.message}`));
    });
  });
}
