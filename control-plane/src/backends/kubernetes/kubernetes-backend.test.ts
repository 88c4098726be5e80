import { KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { deploymentFailure, KubernetesBackend } from './kubernetes-backend.ts';

// What needs no API server. The backend itself is tested against a real one in test/k8s/.

describe('deploymentFailure', () => {
  const withConditions = (conditions: { type: string; status: string; reason?: string; message?: string }[]) =>
    ({ status: { conditions } }) as V1Deployment;

  it.each([
    ['no Deployment', undefined, undefined],
    [
      'a Deployment progressing',
      withConditions([{ type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }]),
      undefined,
    ],
    [
      'the progress deadline passed',
      withConditions([
        { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable' },
        {
          type: 'Progressing',
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
          message: 'ReplicaSet "a-00001-deployment-5d8" has timed out progressing.',
        },
      ]),
      { reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "a-00001-deployment-5d8" has timed out progressing.' },
    ],
    [
      'pods cannot be created (quota)',
      withConditions([
        {
          type: 'ReplicaFailure',
          status: 'True',
          reason: 'FailedCreate',
          message: 'pods "a-1" is forbidden: exceeded quota: compute',
        },
      ]),
      { reason: 'FailedCreate', message: 'pods "a-1" is forbidden: exceeded quota: compute' },
    ],
  ])('%s', (_, deployment, want) => {
    expect(deploymentFailure(deployment)).toEqual(want);
  });
});

describe('KubernetesBackend.validate', () => {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const backend = new KubernetesBackend({ kubeConfig });

  it('asks for an image in every container', () => {
    expect(
      backend.validate({ containers: [{ image: 'a' }, { command: ['node', 'app.js'] }] }, 'spec.template.spec'),
    ).toEqual([
      {
        field: 'spec.template.spec.containers[1].image',
        message: expect.stringContaining('the kubernetes backend runs container images'),
        reason: 'FieldValueRequired',
      },
    ]);
    expect(backend.validate({ containers: [{ image: 'a', command: ['/app'] }] }, 'spec')).toEqual([]);
  });
});
