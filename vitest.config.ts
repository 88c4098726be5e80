import { defineConfig } from 'vitest/config';
import { SummaryReporter } from './test/summary-reporter.ts';

// One config for the whole repo: each package's unit tests beside its code, and the
// cross-part suites under test/.

// A timeout is not a bar: some unit tests start processes, generate RSA keys or parse 15,000
// labels, and on a loaded two-core machine they took 5–8 s (vitest's default limit is 5 s).
// Bounds that matter are asserted inside the tests or measured in bench/.
const unit = { testTimeout: 30_000, hookTimeout: 30_000 };

export default defineConfig({
  test: {
    passWithNoTests: false,
    reporters: ['default', new SummaryReporter()],
    projects: [
      { test: { name: 'shared', include: ['shared/src/**/*.test.ts'], ...unit } },
      { test: { name: 'http', include: ['http/src/**/*.test.ts'], ...unit } },
      { test: { name: 'queue-proxy', include: ['queue-proxy/src/**/*.test.ts'], ...unit } },
      { test: { name: 'control-plane', include: ['control-plane/src/**/*.test.ts'], ...unit } },
      { test: { name: 'edge-router', include: ['edge-router/src/**/*.test.ts'], ...unit } },
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
