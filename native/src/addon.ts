import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../../ops/src/paths';

/** A port as DPDK's ethdev layer describes it. */
export interface EthPortInfo {
  id: number;
  name: string;
  driver: string;
  mac: string;
  max_rx_queues: number;
  max_tx_queues: number;
  socket: number;
}

export interface EalStarted {
  version: string;
  lcores: number;
  ports: EthPortInfo[];
}

/** The functions the native addon exports (native/addon/*.cc). Each area of
 * the addon adds its own members; keep this interface in step with them. */
export interface BraidAddon {
  dpdkVersion(): string;
  ealInit(args: string[]): EalStarted;
  ealPorts(): EthPortInfo[];
  ealCleanup(): void;
  [name: string]: unknown;
}

export const ADDON_PATH = path.join(repoRoot(), 'native', 'build', 'Release', 'braid.node');

let addon: BraidAddon | undefined;

/** Load the addon once; a clear error when it has not been built. */
export function loadAddon(): BraidAddon {
  if (addon) return addon;
  if (!fs.existsSync(ADDON_PATH)) {
    throw new Error(
      `the native addon is not built (${ADDON_PATH} is missing): run ops/bootstrap or npm run build:native`,
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  addon = require(ADDON_PATH) as BraidAddon;
  return addon;
}
