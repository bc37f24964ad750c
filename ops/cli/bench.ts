/** `braid bench seed`: the seed talk's benchmarks (integration/bench/seed.ts). */
export async function benchMain(argv: string[]): Promise<number> {
  if (argv[0] !== 'seed') {
    process.stderr.write(
      'Usage: braid bench seed [--runs 10] [--quick] [--out DIR] [--only LIST]\n',
    );
    return argv[0] === '-h' || argv[0] === '--help' ? 0 : 2;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const seed = require('../../integration/bench/seed') as {
    seedMain(a: string[]): Promise<number>;
  };
  return seed.seedMain(argv.slice(1));
}
