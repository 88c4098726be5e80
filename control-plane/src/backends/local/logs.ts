/** One line of a replica's output. */
export interface LogLine {
  at: string;
  replica: string;
  stream: 'stdout' | 'stderr' | 'queue-proxy';
  text: string;
}

/**
 * The last lines each revision's replicas printed, bounded per revision, with followers for
 * `skiff logs --follow`.
 */
export class LogBuffer {
  #lines: LogLine[] = [];
  #max: number;
  #partial = new Map<string, string>();
  #followers = new Set<(line: LogLine) => void>();

  constructor(max = 1000) {
    this.#max = max;
  }

  append(replica: string, stream: LogLine['stream'], chunk: Buffer): void {
    const key = `${replica}/${stream}`;
    const text = (this.#partial.get(key) ?? '') + chunk.toString('utf8');
    const parts = text.split('\n');
    this.#partial.set(key, parts.pop() ?? '');
    for (const t of parts) this.#push({ at: new Date().toISOString(), replica, stream, text: t });
  }

  #push(line: LogLine): void {
    this.#lines.push(line);
    if (this.#lines.length > this.#max) this.#lines.splice(0, this.#lines.length - this.#max);
    for (const f of this.#followers) f(line);
  }

  lines(): LogLine[] {
    return [...this.#lines];
  }

  /** The last `n` lines, as text (for a failing revision's condition message). */
  tail(n: number): string {
    return this.#lines
      .slice(-n)
      .map((l) => l.text)
      .join('\n');
  }

  follow(listener: (line: LogLine) => void): () => void {
    this.#followers.add(listener);
    return () => this.#followers.delete(listener);
  }
}
