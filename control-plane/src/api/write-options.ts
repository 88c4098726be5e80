import { failure, type Status } from '@skiff/shared';
import { readBody } from './body.ts';

/** Query options every write takes, as kube-apiserver reads them. */
export interface WriteOptions {
  /** `dryRun=All`: validate and default, answer what would be stored, store nothing. */
  dryRun: boolean;
  /** `fieldManager`: who is writing (server-side apply's owner of fields). */
  fieldManager: string | undefined;
  /** `force=true`: an apply takes fields other managers own. */
  force: boolean;
}

/** The write options of a request's query, or the Status refusing them. */
export function writeOptions(url: URL): WriteOptions | Status {
  const dry = url.searchParams.getAll('dryRun');
  for (const v of dry) {
    if (v !== 'All')
      return failure('BadRequest', `dryRun: unsupported value ${JSON.stringify(v)}; the only one is "All"`);
  }
  const fieldManager = url.searchParams.get('fieldManager') ?? undefined;
  if (fieldManager !== undefined && (fieldManager.length > 128 || /[^\x20-\x7e]/.test(fieldManager))) {
    return failure('BadRequest', 'fieldManager: must be at most 128 printable ASCII characters');
  }
  const force = url.searchParams.get('force');
  if (force !== null && force !== 'true' && force !== 'false') {
    return failure('BadRequest', `force: must be true or false, got ${JSON.stringify(force)}`);
  }
  return { dryRun: dry.length > 0, fieldManager, force: force === 'true' };
}

/** `DeleteOptions` (body or query): propagation policy, preconditions, dry run. */
export interface DeleteOptions {
  dryRun: boolean;
  preconditions: { uid?: string; resourceVersion?: string };
}

const policies = new Set(['Foreground', 'Background', 'Orphan']);

export function deleteOptions(url: URL, body: unknown): DeleteOptions | Status {
  const write = writeOptions(url);
  if ('kind' in write) return write;
  let dryRun = write.dryRun;
  const policy = url.searchParams.get('propagationPolicy');
  if (policy !== null && !policies.has(policy)) {
    return failure(
      'BadRequest',
      `propagationPolicy: must be Foreground, Background or Orphan, got ${JSON.stringify(policy)}`,
    );
  }
  if (body === undefined) return { dryRun, preconditions: {} };
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return failure('BadRequest', 'the body of a DELETE must be a DeleteOptions object');
  }
  const o = body as { dryRun?: unknown; propagationPolicy?: unknown; preconditions?: unknown };
  if (o.propagationPolicy !== undefined && !policies.has(o.propagationPolicy as string)) {
    return failure(
      'BadRequest',
      `propagationPolicy: must be Foreground, Background or Orphan, got ${JSON.stringify(o.propagationPolicy)}`,
    );
  }
  if (o.dryRun !== undefined) {
    if (!Array.isArray(o.dryRun) || o.dryRun.some((v) => v !== 'All')) {
      return failure('BadRequest', 'dryRun: the only value is ["All"]');
    }
    dryRun ||= o.dryRun.length > 0;
  }
  const pre = (o.preconditions ?? {}) as { uid?: unknown; resourceVersion?: unknown };
  if (typeof pre !== 'object' || (pre.uid !== undefined && typeof pre.uid !== 'string')) {
    return failure('BadRequest', 'preconditions.uid: must be a string');
  }
  if (pre.resourceVersion !== undefined && typeof pre.resourceVersion !== 'string') {
    return failure('BadRequest', 'preconditions.resourceVersion: must be a string');
  }
  return {
    dryRun,
    preconditions: {
      ...(pre.uid ? { uid: pre.uid as string } : {}),
      ...(pre.resourceVersion ? { resourceVersion: pre.resourceVersion as string } : {}),
    },
  };
}

/** A DELETE's options from its query and its optional `DeleteOptions` body. */
export async function readDeleteOptions(req: Request): Promise<DeleteOptions | Status> {
  let body: unknown;
  if ((req.headers.get('content-length') ?? '0') !== '0' || req.headers.get('transfer-encoding')) {
    const read = await readBody(req, 'object');
    if (!read.ok) return read.status;
    body = read.value;
  }
  return deleteOptions(new URL(req.url), body);
}
