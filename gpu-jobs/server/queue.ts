/**
 * A small in-process queue in front of the model: `concurrency` runs at a time (one session on one
 * GPU gains nothing from more), at most `maxWaiting` waiting behind them, and the rest refused at
 * once so callers can retry elsewhere instead of piling up until they time out.
 */

export class QueueFullError extends Error {
  override name = "QueueFullError";
  constructor(readonly retryAfterS: number) {
    super("the inference queue is full");
  }
}

export class QueueAbortedError extends Error {
  override name = "QueueAbortedError";
}

export interface QueueOptions {
  concurrency: number;
  maxWaiting: number;
}

export interface QueueStats {
  running: number;
  waiting: number;
  concurrency: number;
  max_waiting: number;
  completed: number;
  /** Moving average of run time, ms (0 until the first run). */
  avg_run_ms: number;
}

export interface QueueResult<T> {
  value: T;
  waitMs: number;
  runMs: number;
}

export class BoundedQueue {
  private running = 0;
  private completed = 0;
  private avgRunMs = 0;
  private readonly waiting: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: QueueOptions) {
    if (o.concurrency < 1 || o.maxWaiting < 0) throw new RangeError("concurrency >= 1 and maxWaiting >= 0");
  }

  stats(): QueueStats {
    return {
      running: this.running,
      waiting: this.waiting.length,
      concurrency: this.o.concurrency,
      max_waiting: this.o.maxWaiting,
      completed: this.completed,
      avg_run_ms: Math.round(this.avgRunMs),
    };
  }

  /** Seconds until a slot is likely free: the work ahead divided by the slots. At least 1. */
  retryAfterS(): number {
    const ahead = this.running + this.waiting.length;
    const per = this.avgRunMs || 1000;
    return Math.max(1, Math.ceil((ahead * per) / this.o.concurrency / 1000));
  }

  /**
   * Runs `task` when a slot is free. Throws QueueFullError at once when the queue is full, and
   * QueueAbortedError when `signal` aborts while still waiting (a started task runs to the end:
   * ONNX Runtime cannot cancel a run).
   */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<QueueResult<T>> {
    const queuedAt = performance.now();
    if (this.running >= this.o.concurrency) {
      if (this.waiting.length >= this.o.maxWaiting) throw new QueueFullError(this.retryAfterS());
      await this.wait(signal);
    } else {
      this.running++;
    }
    const startedAt = performance.now();
    try {
      const value = await task();
      return { value, waitMs: startedAt - queuedAt, runMs: performance.now() - startedAt };
    } finally {
      const ran = performance.now() - startedAt;
      this.avgRunMs = this.completed === 0 ? ran : 0.8 * this.avgRunMs + 0.2 * ran;
      this.completed++;
      this.release();
    }
  }

  /** Resolves when nothing is running or waiting (for a graceful shutdown). */
  idle(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private wait(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(new QueueAbortedError("the caller went away while waiting"));
      const onAbort = () => {
        const i = this.waiting.indexOf(w);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new QueueAbortedError("the caller went away while waiting"));
        this.notifyIdle();
      };
      // release() hands its slot over by calling w: `running` is not incremented here.
      const w = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(w);
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next)
      next(); // hand the slot over: `running` stays the same
    else this.running--;
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.running !== 0 || this.waiting.length !== 0) return;
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of ws) w();
  }
}
