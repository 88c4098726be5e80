import { defineConfig } from 'vitest/config';
import { SummaryReporter } from './test/summary-reporter.ts';

// One config for the whole repo: each package's unit tests beside its code, and the
// cross-part suites under test/.
export default defineConfig({
  test: {
    passWithNoTests: false,
    reporters: ['default', new SummaryReporter()],
    projects: [
      { test: { name: 'shared', include: ['shared/src/**/*.test.ts'] } },
      { test: { name: 'http', include: ['http/src/**/*.test.ts'] } },
      { test: { name: 'queue-proxy', include: ['queue-proxy/src/**/*.test.ts'] } },
      { test: { name: 'control-plane', include: ['control-plane/src/**/*.test.ts'] } },
      { test: { name: 'edge-router', include: ['edge-router/src/**/*.test.ts'] } },
      {
        // Real processes with timing assertions: one file at a time on a small machine.
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
