import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  childName,
  clusterLocalUrl,
  md5Hex,
  revisionName,
  routeUrl,
  serviceHost,
  tagHost,
  templateHash,
} from '../index.ts';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

describe('md5', () => {
  it.each([
    '',
    'a',
    'abc',
    'message digest',
    'ünïcödé ✓ 𝄞',
    'x'.repeat(55),
    'y'.repeat(56),
    'z'.repeat(64),
    'w'.repeat(1000),
  ])('matches a reference implementation for %j', (text) => {
    expect(md5Hex(text)).toBe(md5(text));
  });
});

describe('revision names', () => {
  it('numbers revisions with five digits', () => {
    expect(revisionName('hello', 1)).toBe('hello-00001');
    expect(revisionName('hello', 123456)).toBe('hello-123456');
  });

  it('keeps a name that fits in 63 characters', () => {
    const name = 'a'.repeat(57);
    expect(revisionName(name, 1)).toBe(`${name}-00001`);
  });

  it('shortens a longer name with a hash, as Knative does, keeping it unique and 63 long', () => {
    const long = 'a'.repeat(60);
    const got = revisionName(long, 1);
    expect(got).toBe(`${long.slice(0, 25)}${md5(long)}-00001`);
    expect(got).toHaveLength(63);
    expect(revisionName(`${long}b`, 1)).not.toBe(got);
  });

  it('hashes the whole name when the suffix itself is long', () => {
    const suffix = `-${'s'.repeat(40)}`;
    const parent = 'p'.repeat(40);
    const got = childName(parent, suffix);
    expect(got).toBe(`${'p'.repeat(31)}${md5(parent + suffix)}`);
  });
});

describe('template hash', () => {
  const template = {
    metadata: { labels: { a: '1', b: '2' } },
    spec: { containers: [{ image: 'x', env: [{ name: 'A', value: '1' }] }] },
  };

  it('ignores key order', () => {
    const reordered = {
      spec: { containers: [{ env: [{ value: '1', name: 'A' }], image: 'x' }] },
      metadata: { labels: { b: '2', a: '1' } },
    };
    expect(templateHash(reordered)).toBe(templateHash(template));
  });

  it('treats empty maps and lists as absent', () => {
    expect(templateHash({ metadata: { annotations: {} }, spec: { containers: [{ image: 'x', env: [] }] } })).toBe(
      templateHash({ spec: { containers: [{ image: 'x' }] } }),
    );
  });

  it.each([
    ['a label', { ...template, metadata: { labels: { a: '1', b: '3' } } }],
    ['an annotation', { ...template, metadata: { ...template.metadata, annotations: { x: 'y' } } }],
    ['the image', { ...template, spec: { containers: [{ image: 'y', env: [{ name: 'A', value: '1' }] }] } }],
    ['an env value', { ...template, spec: { containers: [{ image: 'x', env: [{ name: 'A', value: '2' }] }] } }],
    ['the revision name', { ...template, metadata: { ...template.metadata, name: 'svc-v2' } }],
  ])('changes when %s changes', (_what, changed) => {
    expect(templateHash(changed)).not.toBe(templateHash(template));
  });
});

describe('hosts and URLs', () => {
  it('builds service and tag hosts from the templates', () => {
    expect(serviceHost('hello', 'default', 'localhost')).toBe('hello.default.localhost');
    expect(tagHost('blue', 'hello', 'default', 'example.com')).toBe('blue-hello.default.example.com');
  });

  it('adds a non-default port to URLs', () => {
    expect(routeUrl('hello', 'default', { domain: 'localhost', port: 8080 })).toBe(
      'http://hello.default.localhost:8080',
    );
    expect(routeUrl('hello', 'default', { domain: 'example.com', port: 80 })).toBe('http://hello.default.example.com');
    expect(routeUrl('hello', 'default', { domain: 'example.com', scheme: 'https', port: 443 }, undefined, 'v2')).toBe(
      'https://v2-hello.default.example.com',
    );
  });

  it('gives cluster-local routes the in-cluster domain', () => {
    const labels = { 'networking.knative.dev/visibility': 'cluster-local' };
    expect(routeUrl('api', 'prod', { domain: 'example.com', port: 8080 }, labels)).toBe(
      'http://api.prod.svc.cluster.local',
    );
    expect(clusterLocalUrl('api', 'prod')).toBe('http://api.prod.svc.cluster.local');
  });
});
