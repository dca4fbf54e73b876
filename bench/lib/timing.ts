/**
 * Timing windows shared by the convkit and JavaScript peer benchmarks (bench/peers/
 * torch_bench.py has the same logic in Python): warm up, size a window from the
 * warm-up's step time, time several windows and report the median rate, so one noisy
 * window (this machine is shared) moves the answer less than a plain mean would.
 */

export interface WindowOptions {
  /** Seconds of untimed steps before the first window (at least minWarmupSteps steps). */
  warmupSeconds: number;
  minWarmupSteps: number;
  /** Target length of one window; a window holds at least one step. */
  windowSeconds: number;
  windows: number;
  /** Stop early, after at least one complete window, once this much time has passed. */
  maxSeconds: number;
}

export interface Timing {
  /** Median over windows of items per second (images/s, or FLOP/s for GFLOP-style measures). */
  median: number;
  min: number;
  max: number;
  rates: number[];
  stepsPerWindow: number;
  warmupSteps: number;
  seconds: number;
}

export const FULL: WindowOptions = { warmupSeconds: 1.0, minWarmupSteps: 2, windowSeconds: 0.8, windows: 5, maxSeconds: 30 };
export const QUICK: WindowOptions = { warmupSeconds: 0.2, minWarmupSteps: 1, windowSeconds: 0.25, windows: 3, maxSeconds: 10 };

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Counts steps as they finish (call step() after each one) and says when enough windows
 * are timed. Works for loops the benchmark drives and for callbacks such as onBatchEnd.
 */
export class WindowTracker {
  private readonly stamps: number[] = [];
  private readonly start = performance.now();
  private warmupSteps = -1;
  private stepsPerWindow = 0;

  constructor(private readonly itemsPerStep: number, private readonly options: WindowOptions) {}

  /** Records one finished step; true when the timing is complete. */
  step(): boolean {
    const now = performance.now();
    this.stamps.push(now);
    const o = this.options;
    if (this.warmupSteps < 0) {
      if (now - this.start >= o.warmupSeconds * 1000 && this.stamps.length >= o.minWarmupSteps) {
        this.warmupSteps = this.stamps.length;
        // The step time: median of the last few warm-up steps (the first ones build plans).
        const durations: number[] = [];
        for (let i = Math.max(0, this.stamps.length - 5); i < this.stamps.length; i++) {
          durations.push(this.stamps[i] - (i === 0 ? this.start : this.stamps[i - 1]));
        }
        this.stepsPerWindow = Math.max(1, Math.round((o.windowSeconds * 1000) / median(durations)));
      }
      return false;
    }
    const timed = this.stamps.length - this.warmupSteps;
    if (timed >= o.windows * this.stepsPerWindow) return true;
    return timed >= this.stepsPerWindow && now - this.start >= o.maxSeconds * 1000;
  }

  result(): Timing {
    if (this.warmupSteps < 0) throw new Error('timing ended during warm-up');
    const rates: number[] = [];
    // Window w spans the steps after stamp (warmupSteps - 1 + w * n) up to stamp (warmupSteps - 1 + (w + 1) * n).
    for (let end = this.warmupSteps - 1 + this.stepsPerWindow; end < this.stamps.length; end += this.stepsPerWindow) {
      const seconds = (this.stamps[end] - this.stamps[end - this.stepsPerWindow]) / 1000;
      rates.push((this.stepsPerWindow * this.itemsPerStep) / seconds);
    }
    if (rates.length === 0) throw new Error('no complete timing window');
    return {
      median: median(rates),
      min: Math.min(...rates),
      max: Math.max(...rates),
      rates,
      stepsPerWindow: this.stepsPerWindow,
      warmupSteps: this.warmupSteps,
      seconds: (this.stamps[this.stamps.length - 1] - this.start) / 1000,
    };
  }
}

/** Times `step` (sync or async), each call processing `itemsPerStep` items. */
export async function timeSteps(step: () => unknown, itemsPerStep: number, options: WindowOptions): Promise<Timing> {
  const tracker = new WindowTracker(itemsPerStep, options);
  for (;;) {
    const r = step();
    if (r instanceof Promise) await r;
    if (tracker.step()) return tracker.result();
  }
}

/** The protocol every child speaks on stdout: one line per finished measurement. */
export function emitResult(id: string, value: Record<string, unknown>): void {
  process.stdout.write(`@@RESULT ${JSON.stringify({ id, ...value })}\n`);
}

export function emitError(id: string, error: unknown): void {
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  process.stdout.write(`@@ERROR ${JSON.stringify({ id, error: message })}\n`);
}

export function emitInfo(info: Record<string, unknown>): void {
  process.stdout.write(`@@INFO ${JSON.stringify(info)}\n`);
}

/** Command-line flags shared by the children: --only a,b,c  --quick  --threads N. */
export function childArgs(argv: string[] = process.argv.slice(2)): { only: string[]; quick: boolean; threads: number } {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    only: (get('--only') ?? '').split(',').filter(Boolean),
    quick: argv.includes('--quick'),
    threads: Number(get('--threads') ?? process.env.CONVKIT_NUM_THREADS ?? 1),
  };
}

/** Runs each requested measurement, reporting a result or an error per id. */
export async function runMeasurements(only: string[], table: Record<string, () => Promise<Record<string, unknown>>>): Promise<void> {
  for (const id of only) {
    const fn = table[id];
    if (!fn) {
      emitError(id, `unknown measurement '${id}'`);
      continue;
    }
    process.stderr.write(`    ${id} ...\n`);
    try {
      emitResult(id, await fn());
    } catch (err) {
      emitError(id, err);
    }
  }
}
