/**
 * How many of a revision's replicas to scrape each second (Knative's `sample_size.go`): all of
 * them up to 3, above that a sample big enough for a 95% confidence level and a 5% margin of
 * error (Cochran's formula with a finite-population correction).
 */
const z = 1.96;
const marginOfErrorPercent = 5;
const populationStdDevPercent = 10;
const s = (z * z * populationStdDevPercent ** 2) / marginOfErrorPercent ** 2; // 15.3664

export function sampleSize(pods: number): number {
  if (pods <= 3) return pods;
  return Math.ceil((pods * s) / (pods + s - 1));
}
