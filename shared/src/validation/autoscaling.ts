import {
  type AutoscalerConfig,
  type AutoscalingAnnotation,
  aggregationAlgorithms,
  autoscalerDefaults,
  autoscalingAnnotations,
  getAnnotation,
  hpaClass,
  kpaClass,
  metrics,
  panicThresholdPercentageRange,
  panicWindowPercentageRange,
  targetMin,
  targetUtilizationPercentageRange,
  windowMaxMs,
  windowMinMs,
} from '../config/autoscaling.ts';
import { parseDuration } from '../config/duration.ts';
import { type FieldError, invalid, key, notSupported, outOfRange } from '../errors/field-error.ts';

/**
 * Validates the `autoscaling.knative.dev/*` annotations of a revision template
 * (`pkg/apis/autoscaling/annotation_validation.go`), every problem at once.
 */
export function validateAutoscalingAnnotations(
  annotations: Record<string, string> | undefined,
  path: string,
  config: AutoscalerConfig = autoscalerDefaults,
): FieldError[] {
  if (!annotations) return [];
  const errs: FieldError[] = [];
  const at = (k: string) => key(path, k);

  for (const spellings of Object.values(autoscalingAnnotations)) {
    const present = spellings.filter((k) => annotations[k] !== undefined);
    if (present.length > 1) {
      for (const k of present.slice(1)) {
        errs.push(
          invalid(at(k), annotations[k], `set only one of ${present.map((p) => JSON.stringify(p)).join(', ')}`),
        );
      }
    }
  }

  const cls = getAnnotation(annotations, 'class');
  if (cls && cls.value !== kpaClass) {
    if (cls.value === hpaClass) {
      errs.push(invalid(at(cls.key), cls.value, `Skiff scales on requests only; the supported class is "${kpaClass}"`));
    } else {
      errs.push(notSupported(at(cls.key), cls.value, [kpaClass]));
    }
  }

  const metric = getAnnotation(annotations, 'metric');
  if (metric && !(metrics as readonly string[]).includes(metric.value)) {
    errs.push(notSupported(at(metric.key), metric.value, metrics));
  }

  const algorithm = getAnnotation(annotations, 'metricAggregationAlgorithm');
  if (algorithm && !(aggregationAlgorithms as readonly string[]).includes(algorithm.value.toLowerCase())) {
    errs.push(notSupported(at(algorithm.key), algorithm.value, aggregationAlgorithms));
  }

  const float = (which: AutoscalingAnnotation, check: (n: number, k: string, v: string) => FieldError | undefined) => {
    const a = getAnnotation(annotations, which);
    if (!a) return;
    const n = Number(a.value);
    if (a.value.trim() === '' || !Number.isFinite(n)) {
      errs.push(invalid(at(a.key), a.value, 'must be a number'));
      return;
    }
    const e = check(n, a.key, a.value);
    if (e) errs.push(e);
  };
  const range = (lo: number, hi: number) => (n: number, k: string, v: string) =>
    n < lo || n > hi ? outOfRange(at(k), v, lo, hi) : undefined;

  float('target', (n, k, v) => (n < targetMin ? invalid(at(k), v, `must be at least ${targetMin}`) : undefined));
  float(
    'targetUtilizationPercentage',
    range(targetUtilizationPercentageRange.min, targetUtilizationPercentageRange.max),
  );
  float('panicWindowPercentage', range(panicWindowPercentageRange.min, panicWindowPercentageRange.max));
  float('panicThresholdPercentage', range(panicThresholdPercentageRange.min, panicThresholdPercentageRange.max));
  float('targetBurstCapacity', (n, k, v) =>
    n < 0 && n !== -1
      ? invalid(at(k), v, 'must be 0 or more, or -1 (always route through the holding queue)')
      : undefined,
  );

  const int = (which: AutoscalingAnnotation): number | undefined => {
    const a = getAnnotation(annotations, which);
    if (!a) return undefined;
    if (!/^[+-]?\d+$/.test(a.value.trim())) {
      errs.push(invalid(at(a.key), a.value, 'must be a whole number'));
      return undefined;
    }
    const n = Number(a.value);
    if (n < 0 || n > 2_147_483_647) {
      errs.push(outOfRange(at(a.key), a.value, 0, 2_147_483_647));
      return undefined;
    }
    return n;
  };
  const min = int('minScale');
  const max = int('maxScale');
  const maxKey = getAnnotation(annotations, 'maxScale')?.key;
  if (min !== undefined && max !== undefined && max !== 0 && max < min && maxKey) {
    errs.push(invalid(at(maxKey), String(max), `max-scale=${max} is less than min-scale=${min}`));
  }
  if (maxKey && max !== undefined && config.maxScaleLimit > 0) {
    if (max === 0) {
      errs.push(
        invalid(at(maxKey), '0', `max-scale=0 (unlimited) is not allowed; the limit is ${config.maxScaleLimit}`),
      );
    } else if (max > config.maxScaleLimit) {
      errs.push(outOfRange(at(maxKey), String(max), 1, config.maxScaleLimit));
    }
  }

  const activation = getAnnotation(annotations, 'activationScale');
  if (activation) {
    const n = /^[+-]?\d+$/.test(activation.value.trim()) ? Number(activation.value) : Number.NaN;
    if (Number.isNaN(n)) errs.push(invalid(at(activation.key), activation.value, 'must be a whole number'));
    else if (n < 2) errs.push(invalid(at(activation.key), activation.value, 'must be 2 or more'));
    else if (min !== undefined && min > n) {
      errs.push(
        invalid(at(activation.key), activation.value, `min-scale=${min} is greater than activation-scale=${n}`),
      );
    } else if (max !== undefined && max !== 0 && max < n) {
      errs.push(invalid(at(activation.key), activation.value, `max-scale=${max} is less than activation-scale=${n}`));
    }
  }

  const initial = getAnnotation(annotations, 'initialScale');
  if (initial) {
    const n = /^[+-]?\d+$/.test(initial.value.trim()) ? Number(initial.value) : Number.NaN;
    if (Number.isNaN(n)) errs.push(invalid(at(initial.key), initial.value, 'must be a whole number'));
    else if (n < 0) errs.push(invalid(at(initial.key), initial.value, 'must be 0 or more'));
    else if (n === 0 && !config.allowZeroInitialScale) {
      errs.push(invalid(at(initial.key), initial.value, 'initial-scale=0 is not allowed by the platform'));
    }
  }

  const duration = (which: AutoscalingAnnotation, minMs: number, maxMs: number, wholeSeconds: boolean) => {
    const a = getAnnotation(annotations, which);
    if (!a) return;
    const ms = parseDuration(a.value);
    if (ms === undefined) {
      errs.push(invalid(at(a.key), a.value, 'must be a duration such as "60s" or "2m30s"'));
    } else if (ms < minMs || ms > maxMs) {
      errs.push(outOfRange(at(a.key), a.value, `${minMs / 1000}s`, `${maxMs / 1000}s`));
    } else if (wholeSeconds && ms % 1000 !== 0) {
      errs.push(invalid(at(a.key), a.value, 'must be specified with at most second precision'));
    }
  };
  duration('window', windowMinMs, windowMaxMs, true);
  duration('scaleDownDelay', 0, windowMaxMs, true);
  duration('scaleToZeroPodRetentionPeriod', 0, windowMaxMs, false);
  return errs;
}
