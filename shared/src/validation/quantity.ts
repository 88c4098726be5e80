// Kubernetes resource quantities ("100m", "1.5", "128Mi", "1e3").

const suffixes: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const pattern = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei))?$/;

/** The numeric value of a quantity, or `undefined` when it is not one. */
export function parseQuantity(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  const m = pattern.exec(value.trim());
  if (!m) return undefined;
  const [, num = '', exponent, suffix = ''] = m;
  const base = Number(num);
  if (exponent) return base * 10 ** Number(exponent.slice(1));
  return base * (suffixes[suffix] ?? Number.NaN);
}
