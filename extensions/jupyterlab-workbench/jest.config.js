/** Unit tests of the panel's TypeScript (pure helpers and DOM pieces, in jsdom). */
module.exports = {
  testEnvironment: 'jsdom',
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }]
  },
  moduleNameMapper: {
    '\\.css$': '<rootDir>/test/style-stub.js'
  }
};
