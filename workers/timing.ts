/**
 * Stage durations of one request, rendered as a `Server-Timing` header (what the bench reads).
 * Deployed Workers advance the clock only on I/O, so CPU-only stages may read 0 there; under
 * local workerd they are real.
 */
export class Timings {
  private readonly entries = new Map<string, number>();
  private last = Date.now();
  readonly start = this.last;

  /** Adds the time since the previous mark (or the start) to `name`. */
  mark(name: string): void {
    const now = Date.now();
    this.add(name, now - this.last);
    this.last = now;
  }

  add(name: string, ms: number): void {
    this.entries.set(name, (this.entries.get(name) ?? 0) + ms);
  }

  get(name: string): number {
    return this.entries.get(name) ?? 0;
  }

  header(): string {
    return [...this.entries, ["total", Date.now() - this.start] as const]
      .map(([k, v]) => `${k};dur=${Math.round(v * 10) / 10}`)
      .join(", ");
  }
}
