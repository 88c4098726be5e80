import { parseDuration } from './duration.ts';

/**
 * The autoscaler's defaults and bounds: Knative's `config-autoscaler` ConfigMap
 * (`pkg/autoscaler/config/config.go`) and annotation ranges (`pkg/apis/autoscaling`).
 * Everything in this file is overridable per platform (`AutoscalerConfig`) and, where an
 * annotation exists, per revision.
 */
export interface AutoscalerConfig {
  enableScaleToZero: boolean;
  /** Fraction of the target a replica should run at (0.7 = 70%). */
  targetUtilization: number;
  /** Concurrency target per replica when `containerConcurrency` is 0. */
  containerConcurrencyTargetDefault: number;
  /** Requests-per-second target per replica with `metric: rps`. */
  rpsTargetDefault: number;
  /** Spare capacity (in concurrent requests) to keep before the router stops holding; -1 = always hold. */
  targetBurstCapacity: number;
  stableWindowMs: number;
  panicWindowPercentage: number;
  panicThresholdPercentage: number;
  maxScaleUpRate: number;
  maxScaleDownRate: number;
  scaleToZeroGracePeriodMs: number;
  scaleToZeroPodRetentionPeriodMs: number;
  scaleDownDelayMs: number;
  activatorCapacity: number;
  initialScale: number;
  allowZeroInitialScale: boolean;
  minScale: number;
  maxScale: number;
  /** Upper bound on any revision's `max-scale`; 0 = none. */
  maxScaleLimit: number;
  /** How often the decider runs. */
  tickIntervalMs: number;
  /** How often replicas' stats are scraped, and the bucket size of the windows. */
  scrapeIntervalMs: number;
}

export const autoscalerDefaults: AutoscalerConfig = {
  enableScaleToZero: true,
  targetUtilization: 0.7,
  containerConcurrencyTargetDefault: 100,
  rpsTargetDefault: 200,
  targetBurstCapacity: 211,
  stableWindowMs: 60_000,
  panicWindowPercentage: 10,
  panicThresholdPercentage: 200,
  maxScaleUpRate: 1000,
  maxScaleDownRate: 2,
  scaleToZeroGracePeriodMs: 30_000,
  scaleToZeroPodRetentionPeriodMs: 0,
  scaleDownDelayMs: 0,
  activatorCapacity: 100,
  initialScale: 1,
  allowZeroInitialScale: false,
  minScale: 0,
  maxScale: 0,
  maxScaleLimit: 0,
  tickIntervalMs: 2000,
  scrapeIntervalMs: 1000,
};

export const windowMinMs = 6_000;
export const windowMaxMs = 3_600_000;
export const panicWindowPercentageRange = { min: 1, max: 100 } as const;
export const panicThresholdPercentageRange = { min: 110, max: 1000 } as const;
export const targetUtilizationPercentageRange = { min: 1, max: 100 } as const;
export const targetMin = 0.01;

export const kpaClass = 'kpa.autoscaling.knative.dev';
export const hpaClass = 'hpa.autoscaling.knative.dev';
export const metrics = ['concurrency', 'rps'] as const;
export type Metric = (typeof metrics)[number];
export const aggregationAlgorithms = ['linear', 'weighted-exponential'] as const;
export type AggregationAlgorithm = (typeof aggregationAlgorithms)[number];

const prefix = 'autoscaling.knative.dev/';

/**
 * Each annotation with its canonical key first, then the older camelCase spelling Knative still
 * reads. Setting both spellings of one annotation is an error.
 */
export const autoscalingAnnotations = {
  class: [`${prefix}class`],
  metric: [`${prefix}metric`],
  target: [`${prefix}target`],
  targetUtilizationPercentage: [`${prefix}target-utilization-percentage`, `${prefix}targetUtilizationPercentage`],
  targetBurstCapacity: [`${prefix}target-burst-capacity`, `${prefix}targetBurstCapacity`],
  window: [`${prefix}window`],
  panicWindowPercentage: [`${prefix}panic-window-percentage`, `${prefix}panicWindowPercentage`],
  panicThresholdPercentage: [`${prefix}panic-threshold-percentage`, `${prefix}panicThresholdPercentage`],
  minScale: [`${prefix}min-scale`, `${prefix}minScale`],
  maxScale: [`${prefix}max-scale`, `${prefix}maxScale`],
  initialScale: [`${prefix}initial-scale`, `${prefix}initialScale`],
  activationScale: [`${prefix}activation-scale`],
  scaleDownDelay: [`${prefix}scale-down-delay`],
  scaleToZeroPodRetentionPeriod: [`${prefix}scale-to-zero-pod-retention-period`],
  metricAggregationAlgorithm: [`${prefix}metric-aggregation-algorithm`, `${prefix}metricAggregationAlgorithm`],
} as const satisfies Record<string, readonly string[]>;
export type AutoscalingAnnotation = keyof typeof autoscalingAnnotations;

/** The key and value of an annotation under whichever of its spellings is present. */
export function getAnnotation(
  annotations: Readonly<Record<string, string>> | undefined,
  which: AutoscalingAnnotation,
): { key: string; value: string } | undefined {
  if (!annotations) return undefined;
  for (const k of autoscalingAnnotations[which]) {
    const value = annotations[k];
    if (value !== undefined) return { key: k, value };
  }
  return undefined;
}

/** What the autoscaler uses for one revision: platform config with the revision's annotations applied. */
export interface RevisionAutoscaling {
  metric: Metric;
  /** Per-replica target the decider aims at (total × utilization, at least 0.01). */
  target: number;
  /** Per-replica capacity in the metric's unit (`containerConcurrency`, the target annotation, or the default). */
  totalTarget: number;
  targetUtilization: number;
  targetBurstCapacity: number;
  stableWindowMs: number;
  panicWindowMs: number;
  panicThreshold: number;
  minScale: number;
  /** 0 = unbounded. */
  maxScale: number;
  initialScale: number;
  activationScale: number;
  scaleDownDelayMs: number;
  scaleToZeroPodRetentionPeriodMs: number;
  aggregation: AggregationAlgorithm;
}

/**
 * Resolves a revision's autoscaling settings (`pkg/reconciler/autoscaling/resources/target.go`).
 * Expects annotations that passed validation; anything unparsable falls back to the platform value.
 */
export function resolveAutoscaling(
  annotations: Readonly<Record<string, string>> | undefined,
  containerConcurrency: number,
  config: AutoscalerConfig = autoscalerDefaults,
): RevisionAutoscaling {
  const num = (which: AutoscalingAnnotation): number | undefined => {
    const a = getAnnotation(annotations, which);
    if (a === undefined) return undefined;
    const n = Number(a.value);
    return a.value.trim() !== '' && Number.isFinite(n) ? n : undefined;
  };
  const dur = (which: AutoscalingAnnotation): number | undefined => {
    const a = getAnnotation(annotations, which);
    return a === undefined ? undefined : parseDuration(a.value);
  };
  const metricValue = getAnnotation(annotations, 'metric')?.value;
  const metric: Metric = metricValue === 'rps' ? 'rps' : 'concurrency';
  const utilizationPct = num('targetUtilizationPercentage');
  const targetUtilization = utilizationPct === undefined ? config.targetUtilization : utilizationPct / 100;

  let totalTarget: number;
  const annotated = num('target');
  if (metric === 'rps') {
    totalTarget = annotated ?? config.rpsTargetDefault;
  } else if (annotated !== undefined) {
    totalTarget = containerConcurrency > 0 ? Math.min(annotated, containerConcurrency) : annotated;
  } else {
    totalTarget = containerConcurrency > 0 ? containerConcurrency : config.containerConcurrencyTargetDefault;
  }

  const stableWindowMs = dur('window') ?? config.stableWindowMs;
  const panicPct = num('panicWindowPercentage') ?? config.panicWindowPercentage;
  const aggregationValue = getAnnotation(annotations, 'metricAggregationAlgorithm')?.value?.toLowerCase();
  return {
    metric,
    totalTarget,
    targetUtilization,
    target: Math.max(targetMin, totalTarget * targetUtilization),
    targetBurstCapacity: num('targetBurstCapacity') ?? config.targetBurstCapacity,
    stableWindowMs,
    panicWindowMs: Math.max(1000, Math.round((stableWindowMs * panicPct) / 100 / 1000) * 1000),
    panicThreshold: (num('panicThresholdPercentage') ?? config.panicThresholdPercentage) / 100,
    minScale: num('minScale') ?? config.minScale,
    maxScale: num('maxScale') ?? config.maxScale,
    initialScale: num('initialScale') ?? config.initialScale,
    activationScale: num('activationScale') ?? 1,
    scaleDownDelayMs: dur('scaleDownDelay') ?? config.scaleDownDelayMs,
    scaleToZeroPodRetentionPeriodMs: dur('scaleToZeroPodRetentionPeriod') ?? config.scaleToZeroPodRetentionPeriodMs,
    aggregation: aggregationValue === 'weighted-exponential' ? 'weighted-exponential' : 'linear',
  };
}

type Setting =
  | { field: keyof AutoscalerConfig; kind: 'bool' }
  | { field: keyof AutoscalerConfig; kind: 'number' | 'int' | 'duration'; min?: number; max?: number; above?: number };

/**
 * The platform settings by Knative's `config-autoscaler` key (plus Skiff's `tick-interval` and
 * `scrape-interval`), for `skiff up --autoscaler-<key> VALUE` and `SKIFF_AUTOSCALER_<KEY>`.
 */
export const autoscalerSettings: Record<string, Setting> = {
  'enable-scale-to-zero': { field: 'enableScaleToZero', kind: 'bool' },
  'container-concurrency-target-percentage': { field: 'targetUtilization', kind: 'number', above: 0, max: 100 },
  'container-concurrency-target-default': { field: 'containerConcurrencyTargetDefault', kind: 'number', min: 0.01 },
  'requests-per-second-target-default': { field: 'rpsTargetDefault', kind: 'number', min: 0.01 },
  'target-burst-capacity': { field: 'targetBurstCapacity', kind: 'number', min: -1 },
  'stable-window': { field: 'stableWindowMs', kind: 'duration', min: windowMinMs, max: windowMaxMs },
  'panic-window-percentage': { field: 'panicWindowPercentage', kind: 'number', min: 1, max: 100 },
  'panic-threshold-percentage': { field: 'panicThresholdPercentage', kind: 'number', min: 110, max: 1000 },
  'max-scale-up-rate': { field: 'maxScaleUpRate', kind: 'number', above: 1 },
  'max-scale-down-rate': { field: 'maxScaleDownRate', kind: 'number', above: 1 },
  'scale-to-zero-grace-period': { field: 'scaleToZeroGracePeriodMs', kind: 'duration', above: 0 },
  'scale-to-zero-pod-retention-period': { field: 'scaleToZeroPodRetentionPeriodMs', kind: 'duration', min: 0 },
  'scale-down-delay': { field: 'scaleDownDelayMs', kind: 'duration', min: 0, max: windowMaxMs },
  'activator-capacity': { field: 'activatorCapacity', kind: 'number', min: 1 },
  'initial-scale': { field: 'initialScale', kind: 'int', min: 0 },
  'allow-zero-initial-scale': { field: 'allowZeroInitialScale', kind: 'bool' },
  'min-scale': { field: 'minScale', kind: 'int', min: 0 },
  'max-scale': { field: 'maxScale', kind: 'int', min: 0 },
  'max-scale-limit': { field: 'maxScaleLimit', kind: 'int', min: 0 },
  'tick-interval': { field: 'tickIntervalMs', kind: 'duration', min: 100 },
  'scrape-interval': { field: 'scrapeIntervalMs', kind: 'duration', min: 100 },
};

/**
 * Applies settings given by key (`stable-window: 10s`) to a config. Every bad value is reported
 * with its key; nothing is applied unless all are good.
 */
export function applyAutoscalerSettings(
  base: AutoscalerConfig,
  settings: Readonly<Record<string, string>>,
): { config: AutoscalerConfig; errors: string[] } {
  const config: Record<string, unknown> = { ...base };
  const errors: string[] = [];
  for (const [key, raw] of Object.entries(settings)) {
    const s = autoscalerSettings[key];
    if (!s) {
      errors.push(`${key}: not an autoscaler setting (one of ${Object.keys(autoscalerSettings).join(', ')})`);
      continue;
    }
    if (s.kind === 'bool') {
      if (raw !== 'true' && raw !== 'false') errors.push(`${key}: expected true or false, got ${JSON.stringify(raw)}`);
      else config[s.field] = raw === 'true';
      continue;
    }
    let n = s.kind === 'duration' ? parseDuration(raw) : raw.trim() === '' ? Number.NaN : Number(raw);
    if (n === undefined || !Number.isFinite(n)) {
      errors.push(
        `${key}: expected ${s.kind === 'duration' ? 'a duration such as 10s' : 'a number'}, got ${JSON.stringify(raw)}`,
      );
      continue;
    }
    if (s.kind === 'int' && !Number.isInteger(n)) {
      errors.push(`${key}: expected a whole number, got ${JSON.stringify(raw)}`);
      continue;
    }
    const shown = (x: number) => (s.kind === 'duration' ? `${x / 1000}s` : String(x));
    if (
      (s.min !== undefined && n < s.min) ||
      (s.max !== undefined && n > s.max) ||
      (s.above !== undefined && n <= s.above)
    ) {
      const range = [
        s.above !== undefined ? `> ${shown(s.above)}` : s.min !== undefined ? `>= ${shown(s.min)}` : '',
        s.max !== undefined ? `<= ${shown(s.max)}` : '',
      ].filter(Boolean);
      errors.push(`${key}: must be ${range.join(' and ')}, got ${JSON.stringify(raw)}`);
      continue;
    }
    // Knative reads a utilization above 1 as a percentage (70 = 0.7).
    if (key === 'container-concurrency-target-percentage' && n > 1) n /= 100;
    config[s.field] = n;
  }
  return errors.length > 0 ? { config: base, errors } : { config: config as unknown as AutoscalerConfig, errors };
}
