import { failure, type Status } from '@skiff/shared';
import jsonPatch from 'fast-json-patch';
import { mergePatch } from './merge-patch.ts';

/**
 * Applies a JSON patch (RFC 6902) to a copy of `target`; fast-json-patch checks each operation
 * (paths, `test`) and the result is validated by admission like any write.
 */
export function applyJsonPatch(target: unknown, ops: unknown): { value: unknown } | Status {
  if (!Array.isArray(ops)) return failure('BadRequest', 'a JSON patch must be an array of operations');
  try {
    const doc = structuredClone(target);
    const error = jsonPatch.validate(ops as jsonPatch.Operation[], doc);
    if (error) return failure('BadRequest', `JSON patch: ${patchMessage(error)}`);
    return { value: jsonPatch.applyPatch(doc, ops as jsonPatch.Operation[], false, true).newDocument };
  } catch (e) {
    return failure('BadRequest', `JSON patch: ${patchMessage(e)}`);
  }
}

function patchMessage(e: unknown): string {
  if (e instanceof jsonPatch.JsonPatchError) {
    const first = e.message.split('\n')[0] ?? e.name;
    return `operation ${e.index ?? '?'}: ${first}`;
  }
  return e instanceof Error ? e.message : String(e);
}

export { mergePatch };
