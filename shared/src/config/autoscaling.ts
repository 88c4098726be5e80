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
