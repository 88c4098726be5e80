import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UsageError } from './commands.ts';
import { parseUpArgs, upHttpProtocol } from './up.ts';

describe('skiff up --rollout-duration (Knative’s config-network rollout-duration)', () => {
  it.each([
    [['--rollout-duration', '120s'], 120],
    [['--rollout-duration=2m'], 120],
    [['--rollout-duration', '90'], 90], // bare seconds, as config-network takes them
    [['--rollout-duration', '0s'], 0],
  ])('%j is %i s for every Service without the annotation', (args, seconds) => {
    expect(parseUpArgs(args).rolloutDurationSeconds).toBe(seconds);
  });

  it('is off (at once) unless given', () => {
    expect(parseUpArgs([]).rolloutDurationSeconds).toBeUndefined();
  });

  it.each([['1.5s'], ['-1s'], ['soon'], ['500ms']])('refuses %s: whole seconds only', (text) => {
    expect(() => parseUpArgs(['--rollout-duration', text])).toThrow(UsageError);
    expect(() => parseUpArgs(['--rollout-duration', text])).toThrow(/whole number of seconds such as 120s/);
  });
});

describe('skiff up --http-protocol (Knative’s config-network http-protocol)', () => {
  const tls = (args: string[]) => parseUpArgs(['--tls', ...args]);
  it.each([
    [['--http-protocol', 'redirected'], {}, 'redirected'],
    [['--http-protocol=disabled'], {}, 'disabled'],
    [[], { SKIFF_HTTP_PROTOCOL: 'redirected' }, 'redirected'],
    // The flag wins over the variable.
    [['--http-protocol', 'enabled'], { SKIFF_HTTP_PROTOCOL: 'disabled' }, 'enabled'],
    [[], {}, 'enabled'],
    [[], { SKIFF_HTTP_PROTOCOL: '' }, 'enabled'],
  ])('%j with %j is %s for every Service without the annotation', (args, env, expected) => {
    expect(upHttpProtocol(env, tls(args))).toBe(expected);
  });

  it('refuses a value Knative does not know, naming the allowed ones', () => {
    expect(() => parseUpArgs(['--http-protocol', 'sometimes'])).toThrow(
      'up: --http-protocol must be one of "enabled", "redirected", "disabled", got "sometimes"',
    );
    expect(() => upHttpProtocol({ SKIFF_HTTP_PROTOCOL: 'Redirected' }, tls([]))).toThrow(
      'up: SKIFF_HTTP_PROTOCOL must be one of "enabled", "redirected", "disabled", got "Redirected"',
    );
  });

  it('refuses redirected or disabled without --tls: there is no HTTPS to send clients to', () => {
    expect(() => upHttpProtocol({}, parseUpArgs(['--http-protocol', 'redirected']))).toThrow(UsageError);
    expect(() => upHttpProtocol({ SKIFF_HTTP_PROTOCOL: 'disabled' }, parseUpArgs([]))).toThrow(/needs --tls/);
    expect(upHttpProtocol({}, parseUpArgs(['--http-protocol', 'enabled']))).toBe('enabled');
  });
});

describe('skiff up --acme-directory', () => {
  it('takes the directory, a CA file to trust and a contact address', () => {
    const ca = fileURLToPath(import.meta.url);
    expect(
      parseUpArgs([
        '--acme-directory',
        'https://127.0.0.1:14000/dir',
        `--acme-ca=${ca}`,
        '--acme-email',
        'ops@example.com',
      ]).acme,
    ).toEqual({ directoryUrl: 'https://127.0.0.1:14000/dir', caFile: ca, email: 'ops@example.com' });
    expect(parseUpArgs([]).acme).toBeUndefined();
    expect(parseUpArgs(['--acme-service-hosts', '--acme-directory', 'https://a.example/dir']).acme).toEqual({
      directoryUrl: 'https://a.example/dir',
      serviceHosts: true,
    });
  });

  it.each([
    [
      ['--acme-directory', 'http://acme.example/dir'],
      'up: --acme-directory must be an https:// URL (RFC 8555), got "http://acme.example/dir"',
    ],
    [['--acme-directory', 'not a url'], 'up: --acme-directory must be an https:// URL (RFC 8555), got "not a url"'],
    [
      ['--acme-email', 'ops@example.com'],
      'up: --acme-ca, --acme-email and --acme-service-hosts go with --acme-directory URL',
    ],
    [['--acme-service-hosts'], 'up: --acme-ca, --acme-email and --acme-service-hosts go with --acme-directory URL'],
    [
      ['--acme-directory', 'https://a.example/dir', '--acme-ca', '/nonexistent/ca.pem'],
      'up: --acme-ca /nonexistent/ca.pem: no such file',
    ],
  ])('refuses %j', (args, message) => {
    expect(() => parseUpArgs(args)).toThrow(new UsageError(message));
  });
});
