import type { z } from 'zod';
import type { FieldError } from '../errors/field-error.ts';

/**
 * A refinement reporting Knative's rules for a part of an object as issues of the schema, each
 * carrying its field error whole (`zodCauses` passes it through). Placed on the part it checks, it
 * runs whenever that part has the right shape, whatever is wrong elsewhere: one answer lists every
 * problem.
 */
export function knativeRules<T>(rules: (value: T) => FieldError[]) {
  return (value: T, ctx: z.RefinementCtx<T>): void => {
    for (const cause of rules(value)) ctx.addIssue({ code: 'custom', message: cause.message, params: { cause } });
  };
}
