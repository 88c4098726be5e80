import { describeBackendContract } from '../contract.ts';
import { MemoryBackend } from './memory-backend.ts';

describeBackendContract(
  'memory',
  () => new MemoryBackend({ readyAfterMs: 5 }),
  (revision) => ({
    namespace: 'default',
    service: 'contract',
    configuration: 'contract',
    revision,
    uid: revision,
    spec: { containers: [{ image: 'example' }] },
    labels: {},
    annotations: {},
  }),
);
