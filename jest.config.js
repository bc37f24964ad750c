/** Jest runs every `*.test.ts` under a folder's `test/` directory. */
const fs = require('node:fs');
const path = require('node:path');

const parts = [
  'controller',
  'dataplane',
  'native',
  'schemas',
  'sdk',
  'nfv-chains',
  'integration',
  'ops',
];

module.exports = {
  testEnvironment: 'node',
  roots: parts.filter((p) => fs.existsSync(path.join(__dirname, p))).map((p) => `<rootDir>/${p}`),
  testMatch: ['**/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/native/build/', '/native/out/'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testTimeout: 60000,
};
