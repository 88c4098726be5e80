import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { podTroubleAt } from './trouble.ts';

const now = Date.parse('2026-12-01T05:30:00Z');

function pod(o: { restarts?: number; finishedAt?: string; ready?: boolean; readySince?: string }): V1Pod {
  return {
    status: {
      containerStatuses: [
        {
          name: 'user-container',
          image: 'app',
          imageID: '',
          ready: o.ready ?? true,
          restartCount: o.restarts ?? 0,
          ...(o.finishedAt ? { lastState: { terminated: { exitCode: 1, finishedAt: new Date(o.finishedAt) } } } : {}),
        },
        { name: 'queue-proxy', image: 'qp', imageID: '', ready: true, restartCount: 0 },
      ],
      conditions: [
        {
          type: 'Ready',
          status: (o.ready ?? true) ? 'True' : 'False',
          ...(o.readySince ? { lastTransitionTime: new Date(o.readySince) } : {}),
        },
      ],
    },
  };
}

describe('podTroubleAt: a pod that crashed or lost readiness, from its status', () => {
  it.each([
    ['a healthy pod first seen', undefined, pod({}), undefined],
    ['a healthy pod, unchanged', pod({}), pod({}), undefined],
    ['a pod still starting (never Ready) is no trouble', pod({ ready: false }), pod({ ready: false }), undefined],
    [
      'a container restarted: the crash time the kubelet recorded',
      pod({}),
      pod({ restarts: 1, finishedAt: '2026-12-01T05:29:50Z' }),
      Date.parse('2026-12-01T05:29:50Z'),
    ],
    ['a restart without a recorded time: now', pod({}), pod({ restarts: 1 }), now],
    [
      'first seen with restarts (after a control-plane restart): the recorded crash',
      undefined,
      pod({ restarts: 3, finishedAt: '2026-12-01T05:20:00Z' }),
      Date.parse('2026-12-01T05:20:00Z'),
    ],
    [
      'an old restart, unchanged, keeps its time (the rollout compares it with its start)',
      pod({ restarts: 1, finishedAt: '2026-12-01T05:00:00Z' }),
      pod({ restarts: 1, finishedAt: '2026-12-01T05:00:00Z' }),
      Date.parse('2026-12-01T05:00:00Z'),
    ],
    [
      'Ready went false: when it did',
      pod({}),
      pod({ ready: false, readySince: '2026-12-01T05:29:58Z' }),
      Date.parse('2026-12-01T05:29:58Z'),
    ],
    ['Ready went false without a time: now', pod({}), pod({ ready: false }), now],
    ['not Ready when first seen: cannot be told from a start', undefined, pod({ ready: false }), undefined],
    [
      'a pod being deleted (scaled down) stops being Ready on purpose',
      pod({}),
      { ...pod({ ready: false }), metadata: { deletionTimestamp: new Date(now) } },
      undefined,
    ],
  ] as const)('%s', (_, previous, current, expected) => {
    expect(podTroubleAt(current, previous, now)).toBe(expected);
  });

  it('reads RFC 3339 strings too (raw watch objects)', () => {
    const p = pod({ restarts: 1 });
    const c = p.status?.containerStatuses?.[0];
    if (c) c.lastState = { terminated: { exitCode: 137, finishedAt: '2026-12-01T05:29:00Z' as unknown as Date } };
    expect(podTroubleAt(p, pod({}), now)).toBe(Date.parse('2026-12-01T05:29:00Z'));
  });
});
