import { child, duplicate, type FieldError, forbidden, index, invalid, outOfRange } from '../errors/field-error.ts';
import { tagHostLabel } from '../naming/urls.ts';
import type { TrafficTarget } from '../schemas/traffic.ts';
import { dns1035LabelProblems, dns1123SubdomainProblems, maxLabelLength } from './names.ts';

export interface TrafficContext {
  /** The owning Service's name (tag hosts are `<tag>-<name>`); absent while it is generated. */
  serviceName?: string;
  /** Inside a Service a target may not name a configuration: the Service has exactly one. */
  inService: boolean;
}

/** Validates `spec.traffic` (`route_validation.go`), after defaulting. */
export function validateTraffic(traffic: TrafficTarget[], path: string, ctx: TrafficContext): FieldError[] {
  const errs: FieldError[] = [];
  const tags = new Map<string, number>();
  let sum = 0;
  traffic.forEach((t, i) => {
    const at = index(path, i);
    if (t.url !== undefined) errs.push(forbidden(child(at, 'url'), 'url is set by Skiff in status only'));
    if (t.configurationName !== undefined) {
      if (ctx.inService) {
        errs.push(forbidden(child(at, 'configurationName'), 'a Service routes to its own configuration; omit it'));
      } else if (t.revisionName !== undefined) {
        errs.push(
          invalid(at, 'revisionName and configurationName', 'set exactly one of revisionName, configurationName'),
        );
      }
    }
    if (!ctx.inService && !t.revisionName && !t.configurationName) {
      errs.push(
        invalid(at, 'neither', "a Route's traffic target names a revisionName or a configurationName (exactly one)"),
      );
    }
    if (t.revisionName !== undefined) {
      for (const p of dns1123SubdomainProblems(t.revisionName)) {
        errs.push(invalid(child(at, 'revisionName'), t.revisionName, p));
      }
    }
    const pinned = t.revisionName !== undefined && t.revisionName !== '';
    if (t.latestRevision !== undefined && t.latestRevision === pinned) {
      errs.push(
        invalid(
          child(at, 'latestRevision'),
          t.latestRevision,
          pinned
            ? `may not be true with revisionName "${t.revisionName}"; remove one of them`
            : 'false needs a revisionName to pin to',
        ),
      );
    }
    const percent = t.percent ?? 0;
    if (percent < 0 || percent > 100) errs.push(outOfRange(child(at, 'percent'), percent, 0, 100));
    sum += percent;
    if (t.tag !== undefined) {
      const problems = dns1035LabelProblems(t.tag);
      for (const p of problems) errs.push(invalid(child(at, 'tag'), t.tag, p));
      const first = tags.get(t.tag);
      if (first !== undefined) {
        errs.push(duplicate(child(at, 'tag'), t.tag, `tag also used by ${index(path, first)}`));
      } else tags.set(t.tag, i);
      if (problems.length === 0 && ctx.serviceName) {
        const label = tagHostLabel(t.tag, ctx.serviceName);
        if (label.length > maxLabelLength) {
          errs.push(
            invalid(
              child(at, 'tag'),
              t.tag,
              `the tag's host label "${label}" is longer than ${maxLabelLength} characters; use a shorter tag`,
            ),
          );
        }
      }
    }
  });
  if (traffic.length > 0 && sum !== 100) {
    errs.push(invalid(path, sum, `traffic targets sum to ${sum}, want 100`));
  }
  return errs;
}
