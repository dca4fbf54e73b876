/**
 * `npm run bench`: convkit beside its peers, at 1 and 2 threads, on this machine.
 *
 *   npm run bench                       the full run (several minutes)
 *   npm run bench -- --quick            short timing windows (a smoke test of the harness)
 *   npm run bench -- --threads 1        only some thread counts
 *   npm run bench -- --rounds 2         run convkit and the peers twice, alternating; keep each one's best
 *
 * Every measurement runs in a child process with its thread count fixed at start
 * (CONVKIT_NUM_THREADS for convkit, OMP/OPENBLAS_NUM_THREADS and set_num_threads for the
 * peers), one child at a time. A child that stops reporting is killed and the measurement
 * it was on is marked failed; the rest go on. Peers that are not installed give "n/a".
 * Prints one table per thread count and writes bench/.cache/last-run.json (and .md).
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CACHE_DIR, FASHION_MNIST_DIR, ONNX_LENET5, REPO_ROOT } from './lib/config';

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const THREADS = (() => {
  const i = argv.indexOf('--threads');
  return i >= 0 ? argv[i + 1].split(',').map(Number) : [1, 2];
})();
const ROUNDS = (() => {
  const i = argv.indexOf('--rounds');
  return i >= 0 ? Math.max(1, Number(argv[i + 1]) || 1) : 1;
})();
const PYTHON = process.env.CONVKIT_BENCH_PYTHON ?? '/usr/bin/python3';
const GEMM_BENCH = path.join(REPO_ROOT, 'build-cmake', 'gemm_bench');
const TS_NODE = require.resolve('ts-node/register/transpile-only');

const log = (line: string): void => void process.stderr.write(`${line}\n`);

// ---------------------------------------------------------------------------------------
// Children: each prints @@INFO / @@RESULT / @@ERROR lines (bench/lib/timing.ts).

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface ChildRun {
  info?: Json;
  /** Fraction of the machine's CPU time other processes used just before the child started. */
  busyBefore?: number;
  results: Record<string, Json>;
  errors: Record<string, string>;
}

interface ChildSpec {
  label: string;
  command: string;
  args: (ids: string[]) => string[];
  env: NodeJS.ProcessEnv;
  ids: string[];
  /** Seconds without a finished measurement after which the child is considered hung. */
  idleSeconds: number;
}

function spawnOnce(spec: ChildSpec, ids: string[], idleSeconds: number, run: ChildRun): Promise<{ code: number | null; signal: string | null; hung: boolean; tail: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(spec.command, spec.args(ids), { cwd: REPO_ROOT, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let hung = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        hung = true;
        child.kill('SIGKILL');
      }, idleSeconds * 1000);
    };
    arm();
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const m = /^@@(RESULT|ERROR|INFO) (.*)$/.exec(line);
        if (!m) continue;
        let payload: Json;
        try {
          payload = JSON.parse(m[2]) as Json;
        } catch {
          continue;
        }
        if (m[1] === 'INFO') run.info = payload;
        else if (m[1] === 'RESULT') run.results[payload.id] = payload;
        else run.errors[payload.id] = payload.error;
        if (m[1] !== 'INFO') arm();
      }
    });
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      process.stderr.write(text);
      err += text;
      const lines = err.split('\n');
      err = lines.pop() ?? '';
      tail.push(...lines.filter((l) => l.trim()));
      if (tail.length > 20) tail.splice(0, tail.length - 20);
    });
    child.on('error', (e) => {
      tail.push(e.message);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (err.trim()) tail.push(err);
      resolve({ code, signal, hung, tail });
    });
  });
}

/** Runs a child until every id has a result or an error, restarting it after a crash or hang. */
async function runChild(spec: ChildSpec): Promise<ChildRun> {
  const run: ChildRun = { results: {}, errors: {} };
  let idleSeconds = spec.idleSeconds;
  let silentRuns = 0;
  log(`  ${spec.label}`);
  run.busyBefore = await waitForQuiet();
  for (;;) {
    const remaining = spec.ids.filter((id) => !(id in run.results) && !(id in run.errors));
    if (remaining.length === 0) break;
    const before = remaining.length;
    const exit = await spawnOnce(spec, remaining, idleSeconds, run);
    const left = spec.ids.filter((id) => !(id in run.results) && !(id in run.errors));
    if (left.length === 0) break;
    const why = exit.hung
      ? `no result for ${idleSeconds} s: killed (hung?)`
      : `the process exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`}) before reporting it${exit.tail.length ? `: ${exit.tail[exit.tail.length - 1].trim().slice(0, 200)}` : ''}`;
    silentRuns = left.length === before ? silentRuns + 1 : 0;
    if (silentRuns >= 2) {
      // It fails before its first measurement every time: no point in trying each id.
      for (const id of left) run.errors[id] = why;
      break;
    }
    run.errors[left[0]] = why;
    log(`  ${spec.label}: ${left[0]}: ${why}`);
    if (exit.hung) idleSeconds = Math.min(idleSeconds, 45); // one hang: the rest gets less patience
  }
  return run;
}

function cpuTimes(): { busy: number; total: number } {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = fields[3] + (fields[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/**
 * The machine is shared (other builds and tests): before each child, wait (up to
 * QUIET_WAIT_S) for a second in which other processes use under a quarter of the CPUs.
 * Returns the busy fraction of the last second sampled.
 */
const QUIET_WAIT_S = QUICK ? 0 : Number(process.env.CONVKIT_BENCH_QUIET_WAIT ?? 60);
let quietWait = QUIET_WAIT_S;
async function waitForQuiet(): Promise<number | undefined> {
  const deadline = Date.now() + quietWait * 1000;
  for (let waited = false; ; waited = true) {
    const a = cpuTimes();
    await new Promise((r) => setTimeout(r, QUICK ? 200 : 1000));
    const b = cpuTimes();
    if (b.total === a.total) return undefined;
    const busy = (b.busy - a.busy) / (b.total - a.total);
    if (busy < 0.25 || Date.now() >= deadline) {
      if (busy >= 0.25) {
        log(`    (the machine is busy: ${(100 * busy).toFixed(0)}% CPU used by other processes; going ahead)`);
        quietWait = Math.min(quietWait, 5); // busy all along: waiting again would only lengthen the run
      }
      else if (waited) log(`    (waited for other processes to go quiet)`);
      return busy;
    }
  }
}

/** Keeps, per measurement, the round with the highest throughput (load from elsewhere only ever lowers it). */
function mergeRuns(a: ChildRun | undefined, b: ChildRun): ChildRun {
  if (!a) return b;
  const merged: ChildRun = { info: a.info ?? b.info, busyBefore: Math.min(a.busyBefore ?? 1, b.busyBefore ?? 1), results: { ...a.results }, errors: {} };
  for (const [id, res] of Object.entries(b.results)) {
    const old = merged.results[id];
    if (!old || (typeof res.value === 'number' && !(typeof old.value === 'number' && old.value >= res.value))) merged.results[id] = res;
  }
  for (const [id, e] of Object.entries({ ...a.errors, ...b.errors })) if (!merged.results[id]) merged.errors[id] = e;
  for (const id of Object.keys(merged.results)) merged.results[id].rounds = [a.results[id]?.value, b.results[id]?.value].filter((v) => v !== undefined);
  return merged;
}

function tsChild(label: string, file: string, ids: string[], threads: number, env: NodeJS.ProcessEnv, idleSeconds = 120): ChildSpec {
  return {
    label,
    command: process.execPath,
    args: (only) => ['-r', TS_NODE, path.join(REPO_ROOT, 'bench', file), '--threads', String(threads), '--only', only.join(','), ...(QUICK ? ['--quick'] : [])],
    env: { ...process.env, TS_NODE_PROJECT: path.join(REPO_ROOT, 'tsconfig.json'), ...env },
    ids,
    idleSeconds,
  };
}

function pythonChild(label: string, mode: string, ids: string[], threads: number, env: NodeJS.ProcessEnv): ChildSpec {
  return {
    label,
    command: PYTHON,
    args: (only) => [
      path.join(REPO_ROOT, 'bench', 'peers', 'torch_bench.py'),
      '--mode', mode, '--threads', String(threads), '--only', only.join(','),
      '--data', FASHION_MNIST_DIR, '--onnx', ONNX_LENET5, ...(QUICK ? ['--quick'] : []),
    ],
    env,
    ids,
    idleSeconds: 120,
  };
}

// ---------------------------------------------------------------------------------------
// The machine, the peers and the peak.

function lscpuSummary(): Json {
  const r = spawnSync('lscpu', [], { encoding: 'utf8' });
  const fields: Json = {};
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /^([^:]+):\s+(.*)$/.exec(line);
    if (m) fields[m[1].trim()] = m[2].trim();
  }
  const flags = String(fields.Flags ?? '').split(' ');
  return {
    model: fields['Model name'] ?? os.cpus()[0]?.model,
    family: fields['CPU family'],
    modelNumber: fields.Model,
    cpus: fields['CPU(s)'],
    threadsPerCore: fields['Thread(s) per core'],
    coresPerSocket: fields['Core(s) per socket'],
    l1d: fields['L1d cache'],
    l2: fields['L2 cache'],
    l3: fields['L3 cache'],
    hypervisor: fields['Hypervisor vendor'],
    simd: ['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni'].filter((f) => flags.includes(f)),
  };
}

function pythonHas(module: string): string | undefined {
  const r = spawnSync(PYTHON, ['-c', `import ${module}; print(${module}.__version__)`], { encoding: 'utf8', timeout: 120_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function nodeHas(pkg: string): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(require.resolve(`${pkg}/package.json`, { paths: [REPO_ROOT] }), 'utf8')) as Json).version as string;
  } catch {
    return undefined;
  }
}

interface Peak {
  /** What gemm_bench's loop measured on t threads (each thread running the whole loop). */
  byThreads: Record<number, number>;
  /** One core: the best of byThreads[t] / t (a busy machine only ever lowers a figure). */
  core: number;
  source: string;
  /** gemm_bench's whole output (its GEMM and conv tables are worth keeping beside the run). */
  output: string;
}

/**
 * Peak FMA GFLOP/s from build-cmake/gemm_bench: its --peak mode when it has one, else the
 * "peak" column of its sgemm table (the ISA's FMA loop, measured beside the GEMM). The best
 * ISA's figure per thread count.
 */
function gemmBenchPeak(): Peak | { error: string } {
  if (!fs.existsSync(GEMM_BENCH)) return { error: `${path.relative(REPO_ROOT, GEMM_BENCH)} not built (npm run build:cmake)` };
  const binary = fs.readFileSync(GEMM_BENCH);
  const hasPeakMode = binary.includes('--peak');
  const args = hasPeakMode ? ['--peak'] : ['--gemm', ...(QUICK ? ['--quick'] : [])];
  log(`  ${path.relative(REPO_ROOT, GEMM_BENCH)} ${args.join(' ')}`);
  const r = spawnSync(GEMM_BENCH, args, { encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0) return { error: `gemm_bench ${args.join(' ')} failed: ${(r.stderr || r.error?.message || `status ${r.status}`).trim().split('\n')[0]}` };
  const byThreads = parsePeak(r.stdout);
  if (Object.keys(byThreads).length === 0) return { error: `no peak figure in the output of gemm_bench ${args.join(' ')}` };
  const core = Math.max(...Object.entries(byThreads).map(([t, v]) => v / Number(t)));
  return { byThreads, core, source: `gemm_bench ${args.join(' ')}`, output: r.stdout };
}

/** Reads "threads" and "peak" columns from a table header, or lines like "peak ... 2 threads ... 179.2 GFLOP/s". */
export function parsePeak(text: string): Record<number, number> {
  const out: Record<number, number> = {};
  const keep = (threads: number, value: number): void => {
    if (Number.isFinite(threads) && Number.isFinite(value) && value > (out[threads] ?? 0)) out[threads] = value;
  };
  let header: string[] | undefined;
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    if (tokens.includes('threads') && tokens.includes('peak')) {
      header = tokens;
      continue;
    }
    if (header && tokens.length === header.length && /^\d+$/.test(tokens[header.indexOf('threads')])) {
      keep(Number(tokens[header.indexOf('threads')]), parseFloat(tokens[header.indexOf('peak')]));
      continue;
    }
    if (!line.trim()) header = undefined;
    const m = /peak/i.test(line) ? /(\d+)\s*threads?\b.*?([\d.]+)\s*GFLOP\/s/i.exec(line) : null;
    if (m) keep(Number(m[1]), parseFloat(m[2]));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Rows and tables.

interface Target {
  text: string;
  ratio?: number;
  absolute?: number;
}

interface Row {
  measure: string;
  unit: string;
  convkit: number | null;
  peer: string;
  peerValue: number | null;
  ratio: number | null;
  target?: string;
  status?: 'ok' | 'BELOW' | 'n/a';
}

function value(run: ChildRun | undefined, id: string): number | null {
  const v = run?.results[id]?.value;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function makeRow(measure: string, unit: string, convkit: number | null, peer: string, peerValue: number | null, target?: Target): Row {
  const ratio = convkit !== null && peerValue !== null && peerValue > 0 ? convkit / peerValue : null;
  const row: Row = { measure, unit, convkit, peer, peerValue, ratio };
  if (target) {
    row.target = target.text;
    const measured = target.absolute !== undefined ? convkit : ratio;
    const goal = target.absolute ?? target.ratio!;
    row.status = measured === null ? 'n/a' : measured >= goal ? 'ok' : 'BELOW';
  }
  return row;
}

function fmt(v: number | null, unit: string): string {
  if (v === null) return 'n/a';
  if (unit === 'images/s') return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
  return v.toFixed(1);
}

function fmtRatio(r: number | null): string {
  return r === null ? 'n/a' : `${r.toFixed(2)}x`;
}

function tableCells(rows: Row[]): string[][] {
  return rows.map((r) => [
    `${r.measure} (${r.unit})`,
    fmt(r.convkit, r.unit),
    r.peer,
    fmt(r.peerValue, r.unit),
    fmtRatio(r.ratio),
    r.target ? `${r.target}: ${r.status}` : '',
  ]);
}

const HEADER = ['measure', 'convkit', 'peer', 'peer value', 'ratio', 'target'];

function textTable(rows: Row[]): string {
  const cells = [HEADER, ...tableCells(rows)];
  const widths = HEADER.map((_, c) => Math.max(...cells.map((r) => r[c].length)));
  const numeric = [false, true, false, true, true, false];
  const line = (r: string[]): string => r.map((s, c) => (numeric[c] ? s.padStart(widths[c]) : s.padEnd(widths[c]))).join(' | ').trimEnd();
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('-+-'), ...cells.slice(1).map(line)].join('\n');
}

function markdownTable(rows: Row[]): string {
  const cells = tableCells(rows);
  return [`| ${HEADER.join(' | ')} |`, '|---|--:|---|--:|--:|---|', ...cells.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

// ---------------------------------------------------------------------------------------

const CONVKIT_IDS = ['train.lenet5', 'train.convnetm', 'train.resnet8', 'infer.lenet5', 'infer.convnetm', 'infer.resnet8', 'sgemm.256', 'sgemm.512', 'sgemm.1024', 'conv.fwd', 'conv.fwdbwd', 'peak'];
const TORCH_IDS = ['train.lenet5', 'train.convnetm', 'train.resnet8', 'infer.lenet5', 'infer.convnetm', 'infer.resnet8', 'conv.fwd', 'conv.fwdbwd'];
const NUMPY_IDS = ['sgemm.256', 'sgemm.512', 'sgemm.1024'];

interface ThreadRuns {
  convkit: ChildRun;
  convkitJs?: ChildRun;
  torch?: ChildRun;
  numpy?: ChildRun;
  ort?: ChildRun;
  tfjs?: ChildRun;
  loadavg: number[];
}

async function main(): Promise<void> {
  const startedAt = new Date();
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  log(`convkit bench${QUICK ? ' (--quick)' : ''}: threads ${THREADS.join(', ')}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  const versions = {
    torch: pythonHas('torch'),
    numpy: pythonHas('numpy'),
    tfjs: nodeHas('@tensorflow/tfjs'),
    tfjsWasm: nodeHas('@tensorflow/tfjs-backend-wasm'),
    onnxruntime: nodeHas('onnxruntime-node'),
  };
  const notes: string[] = [];
  if (!versions.torch) notes.push(`PyTorch: \`${PYTHON} -c "import torch"\` fails; its columns are n/a, and so is ONNX Runtime (it needs the exported model)`);
  if (!versions.numpy) notes.push(`numpy: \`${PYTHON} -c "import numpy"\` fails; the sgemm peer is n/a`);
  if (!versions.tfjs) notes.push('@tensorflow/tfjs not installed (devDependency); its rows are n/a');
  if (!versions.onnxruntime) notes.push('onnxruntime-node not installed (devDependency); its rows are n/a');
  if (!fs.existsSync(FASHION_MNIST_DIR)) notes.push(`${FASHION_MNIST_DIR} not found: LeNet-5 trains on synthetic images`);

  // ONNX model for ONNX Runtime, exported once by the torch peer.
  let onnxError: string | undefined;
  if (versions.torch && versions.onnxruntime) {
    log('  torch: export LeNet-5 to ONNX');
    const exp = await runChild(pythonChild('torch (ONNX export)', 'export', ['onnx.export'], 1, { ...process.env, OMP_NUM_THREADS: '1' }));
    onnxError = exp.errors['onnx.export'];
  } else {
    onnxError = versions.torch ? undefined : 'no ONNX model: PyTorch (which exports it) is not installed';
  }

  const gemmPeak = gemmBenchPeak();
  const runs: Record<number, ThreadRuns> = {};
  for (const t of THREADS) {
    const loadavg = os.loadavg();
    log(`\n== ${t} thread${t > 1 ? 's' : ''} (load average ${loadavg.map((l) => l.toFixed(2)).join(' ')}) ==`);
    const threadEnv = { CONVKIT_NUM_THREADS: String(t), OMP_NUM_THREADS: String(t), MKL_NUM_THREADS: String(t) };
    const r: ThreadRuns = { convkit: { results: {}, errors: {} }, loadavg };
    // Rounds alternate convkit and its peers, so a burst of load from elsewhere hits both; the best round counts.
    for (let round = 1; round <= ROUNDS; round++) {
      if (ROUNDS > 1) log(`  -- round ${round} of ${ROUNDS}`);
      r.convkit = mergeRuns(r.convkit, await runChild(tsChild(`convkit native, CONVKIT_NUM_THREADS=${t}`, 'convkit_bench.ts', CONVKIT_IDS, t, { ...threadEnv, CONVKIT_BACKEND: 'native' }, 90)));
      if (t === 1) r.convkitJs = mergeRuns(r.convkitJs, await runChild(tsChild('convkit TypeScript backend (CONVKIT_BACKEND=js)', 'convkit_bench.ts', ['train.lenet5'], 1, { ...threadEnv, CONVKIT_BACKEND: 'js' }, 180)));
      if (versions.torch) r.torch = mergeRuns(r.torch, await runChild(pythonChild(`PyTorch ${versions.torch}, ${t} thread(s)`, 'torch', TORCH_IDS, t, { ...process.env, ...threadEnv })));
      if (versions.numpy) {
        // numpy's OpenBLAS picks its own kernels and cache sizes: drop the overrides, in this child only.
        const env: NodeJS.ProcessEnv = { ...process.env, ...threadEnv, OPENBLAS_NUM_THREADS: String(t) };
        delete env.OPENBLAS_CORETYPE;
        delete env.OPENBLAS_L2_SIZE;
        r.numpy = mergeRuns(r.numpy, await runChild(pythonChild(`numpy ${versions.numpy} sgemm, ${t} thread(s)`, 'numpy', NUMPY_IDS, t, env)));
      }
      if (versions.onnxruntime && !onnxError) {
        r.ort = mergeRuns(r.ort, await runChild(tsChild(`ONNX Runtime ${versions.onnxruntime}, ${t} thread(s)`, 'peers/ort_bench.ts', ['ort.infer.lenet5'], t, threadEnv)));
      }
      // TF.js is single-threaded in Node (cpu: plain JS; wasm: no worker threads): once, beside the 1-thread figures.
      if (t === 1 && round === 1 && versions.tfjs) {
        const ids = ['tfjs.cpu.train.lenet5', ...(versions.tfjsWasm ? ['tfjs.wasm.infer.lenet5'] : [])];
        r.tfjs = await runChild(tsChild(`TensorFlow.js ${versions.tfjs}`, 'peers/tfjs_bench.ts', ids, 1, threadEnv, 300));
      }
    }
    runs[t] = r;
  }

  // Tables.
  const torchName = versions.torch ? `PyTorch ${versions.torch}` : 'PyTorch';
  const blasInfo = Object.values(runs).find((r) => r.numpy?.info)?.numpy?.info;
  const blasName = `numpy/${blasInfo?.openblas ? `OpenBLAS ${String(blasInfo.openblas.config).split(' ')[1]}` : 'BLAS'}`;
  const out: string[] = [];
  const md: string[] = [];
  const json: Json = {
    startedAt: startedAt.toISOString(),
    command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    rounds: ROUNDS,
    addonPath: process.env.CONVKIT_ADDON_PATH,
    quick: QUICK,
    machine: { cpu: lscpuSummary(), node: process.version, os: `${os.type()} ${os.release()}`, hostCpus: os.cpus().length },
    versions: { ...versions, blas: blasInfo?.openblas ?? blasInfo?.blas },
    peak: 'error' in gemmPeak ? { error: gemmPeak.error } : gemmPeak,
    onnx: onnxError ? { error: onnxError } : { path: path.relative(REPO_ROOT, ONNX_LENET5) },
    notes,
    threads: {} as Json,
  };
  for (const t of THREADS) {
    const r = runs[t];
    const c = r.convkit;
    const rows: Row[] = [];
    const img = 'images/s';
    rows.push(makeRow('LeNet-5 training b64', img, value(c, 'train.lenet5'), torchName, value(r.torch, 'train.lenet5'), { text: '>=2x', ratio: 2 }));
    rows.push(makeRow('ConvNet-M training b64', img, value(c, 'train.convnetm'), torchName, value(r.torch, 'train.convnetm'), { text: '>=1.5x', ratio: 1.5 }));
    rows.push(makeRow('ResNet-8 training b64', img, value(c, 'train.resnet8'), torchName, value(r.torch, 'train.resnet8'), { text: '>=1.5x', ratio: 1.5 }));
    rows.push(makeRow('LeNet-5 inference b256', img, value(c, 'infer.lenet5'), torchName, value(r.torch, 'infer.lenet5')));
    rows.push(makeRow('LeNet-5 inference b256', img, value(c, 'infer.lenet5'), `ONNX Runtime ${versions.onnxruntime ?? ''}`.trim(), value(r.ort, 'ort.infer.lenet5'), { text: '>=1x', ratio: 1 }));
    if (t === 1) rows.push(makeRow('LeNet-5 inference b256', img, value(c, 'infer.lenet5'), 'TF.js wasm (1 thread)', value(r.tfjs, 'tfjs.wasm.infer.lenet5')));
    rows.push(makeRow('ConvNet-M inference b256', img, value(c, 'infer.convnetm'), torchName, value(r.torch, 'infer.convnetm')));
    rows.push(makeRow('ResNet-8 inference b256', img, value(c, 'infer.resnet8'), torchName, value(r.torch, 'infer.resnet8')));

    // Peak of one core (the addon's own figure from the 1-thread child, else gemm_bench's),
    // times the thread count: what t threads could reach, whatever the pool does.
    const addonPeak = value(runs[1]?.convkit ?? c, 'peak');
    const corePeak = addonPeak ?? ('error' in gemmPeak ? null : gemmPeak.core);
    const peakSource =
      addonPeak !== null ? String((runs[1]?.convkit ?? c).results.peak?.source ?? 'addon') : 'error' in gemmPeak ? gemmPeak.error : gemmPeak.source;
    const peak = corePeak === null ? null : corePeak * t;
    for (const n of [256, 512, 1024]) {
      rows.push(makeRow(`sgemm n=${n}`, 'GFLOP/s', value(c, `sgemm.${n}`), blasName, value(r.numpy, `sgemm.${n}`), n === 256 ? undefined : { text: '>=1x', ratio: 1 }));
    }
    const peakName = t === 1 ? 'peak FMA, 1 core' : `peak FMA, 1 core x ${t}`;
    for (const n of [512, 1024]) rows.push(makeRow(`sgemm n=${n} vs peak`, 'GFLOP/s', value(c, `sgemm.${n}`), peakName, peak, { text: '>=0.8x', ratio: 0.8 }));
    rows.push(makeRow('conv2d fwd N64 C32 32x32 K64 3x3', 'GFLOP/s', value(c, 'conv.fwd'), torchName, value(r.torch, 'conv.fwd')));
    rows.push(makeRow('conv2d fwd+bwd (3x fwd FLOPs)', 'GFLOP/s', value(c, 'conv.fwdbwd'), torchName, value(r.torch, 'conv.fwdbwd'), { text: '>=1.5x', ratio: 1.5 }));
    rows.push(makeRow('peak FMA, 1 core', 'GFLOP/s', corePeak, corePeak === null ? '-' : `(${peakSource})`, null));
    if (t === 1) {
      rows.push(makeRow('TS backend LeNet-5 training b64', img, value(r.convkitJs, 'train.lenet5'), 'TF.js cpu', value(r.tfjs, 'tfjs.cpu.train.lenet5'), { text: '>=1,000 images/s', absolute: 1000 }));
    }

    const tableNotes: string[] = [];
    const be = c.info?.backend as Json | undefined;
    tableNotes.push(
      be
        ? `convkit: ${be.backend}, ISA ${be.isa}, ${be.threads} thread(s)${be.threads !== t ? ` (requested ${t}!)` : ''}; addon ${c.info?.addon ?? '?'} (built ${c.info?.addonBuilt ?? '?'})`
        : 'convkit: the native backend did not report (see errors)',
    );
    if (peak === null) tableNotes.push(`peak FMA n/a: ${peakSource}`);
    else if (!('error' in gemmPeak) && addonPeak === null && gemmPeak.byThreads[t] !== undefined && t > 1) {
      tableNotes.push(`gemm_bench's own ${t}-thread peak loop measured ${gemmPeak.byThreads[t].toFixed(1)} GFLOP/s (${((100 * gemmPeak.byThreads[t]) / peak).toFixed(0)}% of ${t} x 1 core)`);
    }
    const busy = (
      [['convkit', c], ['convkit js', r.convkitJs], ['PyTorch', r.torch], ['numpy', r.numpy], ['ONNX Runtime', r.ort], ['TF.js', r.tfjs]] as [string, ChildRun | undefined][]
    )
      .filter(([, run]) => run?.busyBefore !== undefined)
      .map(([name, run]) => `${name} ${(100 * run!.busyBefore!).toFixed(0)}%`);
    if (busy.length) tableNotes.push(`CPU used by other processes just before each child: ${busy.join(', ')}`);
    const failures: string[] = [];
    const collect = (label: string, run: ChildRun | undefined): void => {
      for (const [id, e] of Object.entries(run?.errors ?? {})) failures.push(`${label} ${id}: ${e}`);
    };
    collect('convkit', c);
    collect('convkit (js)', r.convkitJs);
    collect('torch', r.torch);
    collect('numpy', r.numpy);
    collect('onnxruntime', r.ort);
    collect('tfjs', r.tfjs);
    if (onnxError) failures.push(`onnxruntime: ${onnxError}`);

    const title = `${t} thread${t > 1 ? 's' : ''} (load average at start ${r.loadavg.map((l) => l.toFixed(2)).join(' ')})`;
    out.push(`\n${title}\n${textTable(rows)}`, ...tableNotes.map((n) => `  ${n}`), ...failures.map((f) => `  error: ${f}`));
    md.push(`### ${title}\n\n${markdownTable(rows)}\n`, ...tableNotes.map((n) => `- ${n}`), ...failures.map((f) => `- error: ${f}`), '');
    json.threads[t] = {
      loadavg: r.loadavg,
      rows,
      notes: tableNotes,
      errors: failures,
      raw: { convkit: c, convkitJs: r.convkitJs, torch: r.torch, numpy: r.numpy, onnxruntime: r.ort, tfjs: r.tfjs },
    };
  }
  json.finishedAt = new Date().toISOString();

  console.log(`convkit bench, ${json.machine.cpu.model}, node ${process.version}${QUICK ? ' (--quick: short windows, rough numbers)' : ''}`);
  console.log('throughput: median of timed windows; ratio = convkit / peer (higher is better for convkit)');
  for (const n of notes) console.log(`note: ${n}`);
  console.log(out.join('\n'));
  const text = `${JSON.stringify(json, null, 2)}\n`;
  fs.writeFileSync(path.join(CACHE_DIR, 'last-run.json'), text);
  // Keep every run too (last-run.json is overwritten by the next one, --quick included).
  fs.writeFileSync(path.join(CACHE_DIR, `run-${startedAt.toISOString().replace(/[:.]/g, '-')}${QUICK ? '-quick' : ''}.json`), text);
  fs.writeFileSync(path.join(CACHE_DIR, 'last-run.md'), `${notes.map((n) => `- note: ${n}`).join('\n')}\n\n${md.join('\n')}`);
  console.log(`\nwrote ${path.relative(process.cwd(), path.join(CACHE_DIR, 'last-run.json'))} and last-run.md`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
