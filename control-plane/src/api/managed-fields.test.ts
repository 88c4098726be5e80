import { describe, expect, it } from 'vitest';
import {
  afterApply,
  afterUpdate,
  applyConflicts,
  conflictMessage,
  fromFieldsV1,
  leafPaths,
  managerFromUserAgent,
  mergeApply,
  toFieldsV1,
} from './managed-fields.ts';

const t = '2026-12-01T00:00:00Z';
const av = 'serving.knative.dev/v1';
const svc = (env: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: av,
  kind: 'Service',
  metadata: { name: 'a', labels: { team: 'x' } },
  spec: { template: { spec: { containers: [{ image: 'i', env: [{ name: 'T', value: env }] }] } }, ...extra },
});

describe('field sets', () => {
  it('writes and reads fieldsV1 with lists as atomic leaves', () => {
    const paths = leafPaths({ metadata: { labels: { a: '1' } }, spec: { traffic: [{ percent: 100 }], x: {} } });
    expect(paths).toEqual([
      ['metadata', 'labels', 'a'],
      ['spec', 'traffic'],
      ['spec', 'x'],
    ]);
    const f = toFieldsV1(paths);
    expect(f).toEqual({ 'f:metadata': { 'f:labels': { 'f:a': {} } }, 'f:spec': { 'f:traffic': {}, 'f:x': {} } });
    expect(fromFieldsV1(f)).toEqual(paths);
  });

  it('names the manager from the User-Agent as kube-apiserver does', () => {
    expect(managerFromUserAgent('kubectl/v1.36.3 (linux/amd64) kubernetes/abc')).toBe('kubectl');
    expect(managerFromUserAgent(null)).toBe('unknown');
  });
});

describe('server-side apply', () => {
  const created = afterApply([], svc('v1'), {}, svc('v1'), 'alice', av, t);

  it('owns exactly the fields of the configuration', () => {
    expect(created).toEqual([
      {
        manager: 'alice',
        operation: 'Apply',
        apiVersion: av,
        time: t,
        fieldsType: 'FieldsV1',
        fieldsV1: {
          'f:metadata': { 'f:labels': { 'f:team': {} } },
          'f:spec': { 'f:template': { 'f:spec': { 'f:containers': {} } } },
        },
      },
    ]);
  });

  it('a change to a field another manager owns conflicts, naming the manager and the field', () => {
    const next = mergeApply(svc('v1'), svc('v2'), created, 'bob');
    const conflicts = applyConflicts(svc('v1'), next, svc('v2'), created, 'bob');
    expect(conflicts).toEqual([{ manager: 'alice', field: '.spec.template.spec.containers' }]);
    expect(conflictMessage(conflicts)).toBe(
      'Apply failed with 1 conflict: conflict with "alice": .spec.template.spec.containers',
    );
  });

  it('the same value is no conflict: both own the field', () => {
    const next = mergeApply(svc('v1'), svc('v1'), created, 'bob');
    expect(applyConflicts(svc('v1'), next, svc('v1'), created, 'bob')).toEqual([]);
    const owners = afterApply(created, svc('v1'), svc('v1'), next, 'bob', av, t);
    expect(owners.map((m) => m.manager)).toEqual(['alice', 'bob']);
  });

  it('forced, the applier takes the changed fields from the other manager', () => {
    const next = mergeApply(svc('v1'), svc('v2'), created, 'bob');
    const owners = afterApply(created, svc('v2'), svc('v1'), next, 'bob', av, t);
    expect(owners.find((m) => m.manager === 'alice')?.fieldsV1).toEqual({
      'f:metadata': { 'f:labels': { 'f:team': {} } },
    });
    expect(fromFieldsV1(owners.find((m) => m.manager === 'bob')?.fieldsV1)).toContainEqual([
      'spec',
      'template',
      'spec',
      'containers',
    ]);
  });

  it('removes a field the manager applied before and no longer names, unless another owns it', () => {
    const withTraffic = svc('v1', { traffic: [{ latestRevision: true, percent: 100 }] });
    const owners = afterApply([], withTraffic, {}, withTraffic, 'alice', av, t);
    const next = mergeApply(withTraffic, svc('v1'), owners, 'alice');
    expect((next.spec as any).traffic).toBeUndefined();
    // Another manager's label stays: alice never owned it.
    const shared = afterUpdate(
      owners,
      withTraffic,
      { ...withTraffic, metadata: { name: 'a', labels: { team: 'x', b: '1' } } },
      'bob',
      av,
      t,
    );
    const kept = mergeApply(
      { ...withTraffic, metadata: { name: 'a', labels: { team: 'x', b: '1' } } },
      svc('v1'),
      shared,
      'alice',
    );
    expect((kept.metadata as any).labels).toEqual({ team: 'x', b: '1' });
  });
});

describe('updates', () => {
  it('the writer owns what it set or changed, taken from others; removed fields are owned by no one', () => {
    const created = afterUpdate([], undefined, svc('v1'), 'kubectl-create', av, t);
    expect(created).toHaveLength(1);
    const patched = afterUpdate(created, svc('v1'), svc('v2'), 'kubectl-patch', av, t);
    expect(patched.map((m) => [m.manager, m.operation])).toEqual([
      ['kubectl-create', 'Update'],
      ['kubectl-patch', 'Update'],
    ]);
    expect(patched[0]?.fieldsV1).toEqual({ 'f:metadata': { 'f:labels': { 'f:team': {} } } });
    const unlabelled = { ...svc('v2'), metadata: { name: 'a' } };
    const after = afterUpdate(patched, svc('v2'), unlabelled, 'kubectl-edit', av, t);
    expect(after.map((m) => m.manager)).toEqual(['kubectl-patch']);
  });
});
