import { type Format, failure, type Parsed, type Status } from '@skiff/shared';
import { stringify } from 'yaml';
import { parseBody } from './parse-worker.ts';

/** Largest request body the API reads (413 past it): kube-apiserver's limit, 3 MiB. */
export const maxBodyBytes = 3 * 1024 * 1024;

const jsonTypes = new Set(['application/json', 'application/merge-patch+json']);
const yamlTypes = new Set(['application/yaml', 'application/x-yaml', 'text/yaml', 'application/apply-patch+yaml']);

export type BodyKind = 'object' | 'patch';

/** The patch types kube-apiserver accepts for custom resources, by `Content-Type`. */
export type PatchType = 'merge' | 'json' | 'apply';

const patchTypes: Record<string, PatchType> = {
  'application/merge-patch+json': 'merge',
  'application/json-patch+json': 'json',
  'application/apply-patch+yaml': 'apply',
};

function mediaType(req: Request): string {
  return (req.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** A PATCH's type, or the 415 Status refusing it (strategic merge is refused, as for CRDs). */
export function patchType(req: Request): PatchType | Status {
  const type = mediaType(req);
  // `kubectl patch` without --type sends strategic merge; a plain JSON body is a merge patch here.
  const found = type === 'application/json' ? 'merge' : patchTypes[type];
  if (found) return found;
  return failure(
    'UnsupportedMediaType',
    `the body of the request was in an unknown format (${JSON.stringify(type || 'none')}) - accepted media types include: ${Object.keys(patchTypes).join(', ')}`,
  );
}

/**
 * Reads and parses a request body: JSON or YAML by `Content-Type` (a merge patch for PATCH),
 * at most 3 MiB and 100 levels deep (checked before parsing), large YAML parsed off the event
 * loop. Problems come back as the `Status` to answer with.
 */
export async function readBody(req: Request, kind: BodyKind): Promise<Parsed<unknown>> {
  const type = mediaType(req);
  let format: Format;
  if (kind === 'patch') {
    const patch = patchType(req);
    if (typeof patch !== 'string') return { ok: false, status: patch };
    format = patch === 'apply' ? 'yaml' : 'json';
  } else if (jsonTypes.has(type) || type === '') {
    // kube-apiserver takes a body without a Content-Type as JSON (`kubectl create --raw` sends none).
    format = 'json';
  } else if (yamlTypes.has(type)) format = 'yaml';
  else {
    return {
      ok: false,
      status: failure(
        'UnsupportedMediaType',
        `the content type ${JSON.stringify(type || 'none')} is not supported; use application/json or application/yaml`,
      ),
    };
  }
  const length = req.headers.get('content-length');
  const declared = Number(length ?? 0);
  if (declared > maxBodyBytes) return { ok: false, status: tooLarge() };
  if (length !== null && Number.isSafeInteger(declared) && declared >= 0) {
    // A declared length within the limit bounds what is read: the whole body at once (the
    // Node adapter then reads it from the socket without building a web Request and stream).
    const body = Buffer.from(await req.arrayBuffer());
    if (body.byteLength > maxBodyBytes) return { ok: false, status: tooLarge() };
    if (body.byteLength === 0) return { ok: false, status: failure('BadRequest', 'the request body is empty') };
    return parseBody(body.toString('utf8'), format);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    const reader = req.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBodyBytes) {
        await reader.cancel();
        return { ok: false, status: tooLarge() };
      }
      chunks.push(value);
    }
  }
  if (size === 0) return { ok: false, status: failure('BadRequest', 'the request body is empty') };
  const text = Buffer.concat(chunks).toString('utf8');
  return parseBody(text, format);
}

function tooLarge(): Status {
  return failure('RequestEntityTooLarge', `the request body is larger than ${maxBodyBytes} bytes`);
}

/** Answers in YAML when the client asks for it (`Accept: application/yaml`), else JSON. */
export function respond(req: Request, status: number, value: unknown): Response {
  const accept = req.headers.get('accept') ?? '';
  if (/application\/(x-)?yaml|text\/yaml/.test(accept)) {
    return new Response(stringify(value), { status, headers: { 'content-type': 'application/yaml' } });
  }
  return new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json' } });
}

export function statusResponse(req: Request, status: Status): Response {
  return respond(req, status.code, status);
}
