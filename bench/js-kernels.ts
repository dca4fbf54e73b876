/**
 * GFLOP/s of the pure-TypeScript kernels (lib/backend/js), single-threaded:
 *   matmul 256^3 and 512^3 (all four transposition cases of 256, the plain case of 512),
 *   conv2d forward and forward+backward (input and filter gradients) on
 *   N64 C32 32x32 -> K64 3x3 'same' (stride 1), plus LeNet-5's two convolutions.
 *
 *   npx ts-node --transpile-only bench/js-kernels.ts [--reps N]
 *
 * Each row runs the kernel once to warm up (JIT), then `reps` times; it reports the best and
 * the median wall time, the best process CPU time (steadier than wall time on a shared machine)
 * and the GFLOP/s of the best wall time (2 flops per multiply-add; a backward pass counts the
 * same flops as the forward). Compare rows from the same run.
 */
import { JS_KERNELS } from '../lib/backend/js';

const repsArg = process.argv.indexOf('--reps');
const REPS = repsArg >= 0 ? Number(process.argv[repsArg + 1]) : 5;

function random(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

interface Row {
  name: string;
  flops: number;
  best: number;
  median: number;
  cpu: number;
}

function measure(name: string, flops: number, run: () => void, reps = REPS): Row {
  run();
  const times: number[] = [];
  let cpu = Infinity;
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / 1000);
  }
  times.sort((a, b) => a - b);
  return { name, flops, best: times[0], median: times[times.length >> 1], cpu };
}

function matmulRow(m: number, n: number, k: number, transA: number, transB: number): Row {
  const a = random(m * k, 1);
  const b = random(k * n, 2);
  const c = new Float32Array(m * n);
  const ints = [m, n, k, transA, transB];
  const label = `matmul ${m}x${n}x${k}${transA ? ' A^T' : ''}${transB ? ' B^T' : ''}`;
  return measure(label, 2 * m * n * k, () => JS_KERNELS.matmul([a, b, c], ints, []));
}

/** conv2d ints for stride 1, dilation 1, 'same' or 'valid' padding. */
function convInts(n: number, h: number, w: number, c: number, oc: number, k: number, same: boolean): number[] {
  const pad = same ? (k - 1) >> 1 : 0;
  const oh = same ? h : h - k + 1;
  const ow = same ? w : w - k + 1;
  return [n, h, w, c, oc, k, k, 1, 1, 1, 1, pad, pad, oh, ow, 1];
}

function convRows(label: string, ints: number[], reps = REPS): Row[] {
  const [n, h, w, c, oc, kh, kw, , , , , , , oh, ow, groups] = ints;
  const x = random(n * h * w * c, 3);
  const wt = random(kh * kw * (c / groups) * oc, 4);
  const y = new Float32Array(n * oh * ow * oc);
  const dy = random(y.length, 5);
  const dx = new Float32Array(x.length);
  const dw = new Float32Array(wt.length);
  const flops = 2 * n * oh * ow * oc * kh * kw * (c / groups);
  const forward = () => JS_KERNELS.conv2d([x, wt, y], ints, []);
  const both = () => {
    JS_KERNELS.conv2d([x, wt, y], ints, []);
    JS_KERNELS.conv2dBackwardInput([dy, wt, dx], ints, []);
    JS_KERNELS.conv2dBackwardFilter([x, dy, dw], ints, []);
  };
  return [measure(`${label} forward`, flops, forward, reps), measure(`${label} forward+backward`, 3 * flops, both, reps)];
}

function main(): void {
  const rows: Row[] = [];
  rows.push(matmulRow(256, 256, 256, 0, 0));
  rows.push(matmulRow(256, 256, 256, 1, 0));
  rows.push(matmulRow(256, 256, 256, 0, 1));
  rows.push(matmulRow(256, 256, 256, 1, 1));
  rows.push(matmulRow(512, 512, 512, 0, 0));
  rows.push(...convRows('conv N64 C32 32x32 K64 3x3 same', convInts(64, 32, 32, 32, 64, 3, true), Math.min(REPS, 3)));
  rows.push(...convRows('LeNet conv1 N64 C1 28x28 K6 5x5 same', convInts(64, 28, 28, 1, 6, 5, true)));
  rows.push(...convRows('LeNet conv2 N64 C6 14x14 K16 5x5 valid', convInts(64, 14, 14, 6, 16, 5, false)));

  const width = Math.max(...rows.map((r) => r.name.length));
  console.log(`${'kernel'.padEnd(width)}  ${'best ms'.padStart(9)}  ${'median ms'.padStart(9)}  ${'cpu ms'.padStart(9)}  ${'GFLOP/s'.padStart(7)}`);
  for (const r of rows) {
    const gflops = r.flops / (r.best * 1e6);
    const cells = [r.best, r.median, r.cpu].map((v) => v.toFixed(2).padStart(9)).join('  ');
    console.log(`${r.name.padEnd(width)}  ${cells}  ${gflops.toFixed(2).padStart(7)}`);
  }
}

main();
