/** Jest runs every `*.test.ts` under a folder's `test/` directory. */
module.exports = {
  testEnvironment: 'node',
  roots: [
    '<rootDir>/controller',
    '<rootDir>/dataplane',
    '<rootDir>/native',
    '<rootDir>/schemas',
    '<rootDir>/sdk',
    '<rootDir>/nfv-chains',
    '<rootDir>/integration',
    '<rootDir>/ops',
  ],
  testMatch: ['**/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/native/build/', '/native/out/'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testTimeout: 60000,
};
