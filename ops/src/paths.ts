import * as fs from 'node:fs';
import * as path from 'node:path';

let cached: string | undefined;

/** The repository root (the folder holding Braid's package.json), found from
 * this file whether it runs from `dist/` or from the sources under jest. */
export function repoRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      const name = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name;
      if (name === 'braid') return (cached = dir);
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`braid: cannot find the repository root above ${__dirname}`);
    dir = up;
  }
}
