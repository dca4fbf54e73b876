import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { ArgumentError, FormatError, ValueError } from '../lib/errors';
import { Random } from '../lib/random';
import { Tensor } from '../lib/tensor';
import {
  Dataset,
  checkFinite,
  loadDigits,
  loadIdxDataset,
  parseIdx,
  readIdxFile,
  subset,
  trainTestSplit,
} from '../lib/data';

const FASHION_DIR = path.join(__dirname, '..', '..', 'shared', 'data', 'fashion-mnist');

/** Builds an IDX buffer: magic 0x0000 08 <ndims>, big-endian dims, then the bytes. */
function idxBuffer(dims: number[], data: number[] | Uint8Array, typeCode = 0x08): Uint8Array {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = typeCode;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return new Uint8Array(Buffer.concat([header, Buffer.from(data)]));
}

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the call to throw');
}

let tmpDir: string;
beforeAll(() => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-data-'));
});
afterAll(() => {
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('Random', () => {
  test('same seed gives the same sequence, pinned to exact xoshiro128** outputs', () => {
    const a = new Random(42);
    const b = new Random(42);
    const seqA = Array.from({ length: 1000 }, () => a.nextUint32());
    const seqB = Array.from({ length: 1000 }, () => b.nextUint32());
    expect(seqA).toEqual(seqB);
    // Checked against a C reference of splitmix32 seeding + xoshiro128**.
    expect(seqA.slice(0, 4)).toEqual([2275111610, 611265435, 2102005848, 3214503393]);
  });

  test('different seeds differ, including nearby and fractional seeds', () => {
    const first = (seed: number) => {
      const r = new Random(seed);
      return [r.nextUint32(), r.nextUint32(), r.nextUint32()];
    };
    const seeds = [0, 1, 2, 42, 43, 0.5, -1, 1e9];
    const seen = new Set(seeds.map((s) => first(s).join(',')));
    expect(seen.size).toBe(seeds.length);
    expect(first(0)).toEqual(first(-0));
  });

  test('rejects non-finite seeds', () => {
    expect(() => new Random(NaN)).toThrow(ArgumentError);
    expect(() => new Random(Infinity)).toThrow(ArgumentError);
  });

  test('uniform, uniformRange and int stay in range', () => {
    const r = new Random(7);
    let bad = 0;
    for (let i = 0; i < 10000; i++) {
      const u = r.uniform();
      const v = r.uniformRange(-2, 3);
      const k = r.int(7);
      if (!(u >= 0 && u < 1) || !(v >= -2 && v < 3) || !(Number.isInteger(k) && k >= 0 && k < 7)) bad++;
    }
    expect(bad).toBe(0);
    expect(() => r.int(0)).toThrow(ArgumentError);
    expect(() => r.int(2.5)).toThrow(ArgumentError);
    expect(() => r.uniformRange(1, 1)).toThrow(ArgumentError);
  });

  test('int is roughly uniform', () => {
    const r = new Random(3);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 100000; i++) counts[r.int(10)]++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(500);
  });

  test('shuffle is a permutation and deterministic', () => {
    const arr = Array.from({ length: 100 }, (_, i) => i);
    const s1 = new Random(5).shuffle([...arr]);
    const s2 = new Random(5).shuffle([...arr]);
    expect(s1).toEqual(s2);
    expect(s1).not.toEqual(arr);
    expect([...s1].sort((x, y) => x - y)).toEqual(arr);
    const p = new Random(9).permutation(1000);
    expect(p).toBeInstanceOf(Uint32Array);
    expect(Array.from(p).sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  test('normal() has mean ~0 and variance ~1 over 1e5 samples, and is deterministic', () => {
    const r = new Random(11);
    const n = 100000;
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < n; i++) {
      const x = r.normal();
      sum += x;
      sumSq += x * x;
    }
    const mean = sum / n;
    const variance = sumSq / n - mean * mean;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
    const a = new Random(1);
    const b = new Random(1);
    for (let i = 0; i < 11; i++) expect(a.normal()).toBe(b.normal());
  });

  test('fork gives deterministic streams that differ from the parent', () => {
    const p1 = new Random(100);
    const p2 = new Random(100);
    const c1 = p1.fork();
    const c2 = p2.fork();
    const seq = (r: Random) => Array.from({ length: 8 }, () => r.nextUint32());
    const s1 = seq(c1);
    expect(s1).toEqual(seq(c2));
    expect(seq(p1)).toEqual(seq(p2));
    expect(s1).not.toEqual(seq(new Random(100)));
    expect(seq(p1.fork())).not.toEqual(seq(p1.fork()));
  });
});

describe('IDX', () => {
  test('parseIdx reads a hand-built 3D uint8 file', () => {
    const pixels = Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 10);
    const { dims, data } = parseIdx(idxBuffer([2, 3, 4], pixels), 'mem.idx');
    expect(dims).toEqual([2, 3, 4]);
    expect(Array.from(data)).toEqual(pixels);
    const labels = parseIdx(idxBuffer([3], [7, 0, 9]), 'labels.idx');
    expect(labels.dims).toEqual([3]);
    expect(Array.from(labels.data)).toEqual([7, 0, 9]);
  });

  test('bad magic and unsupported types are FormatErrors naming the file', () => {
    const bad = idxBuffer([3], [1, 2, 3]);
    bad[0] = 0x12;
    const err = thrown(() => parseIdx(bad, 'bad-magic.idx'));
    expect(err).toBeInstanceOf(FormatError);
    expect(err.code).toBe('E_FORMAT');
    expect(err.message).toContain('bad-magic.idx');
    expect(err.message).toContain('0x12000801');

    const float = thrown(() => parseIdx(idxBuffer([1], [0, 0, 0, 0], 0x0d), 'float.idx'));
    expect(float).toBeInstanceOf(FormatError);
    expect(float.message).toMatch(/float\.idx.*0x08.*0x0d/);

    const zeroDims = new Uint8Array([0, 0, 8, 0]);
    expect(() => parseIdx(zeroDims, 'z.idx')).toThrow(FormatError);
    expect(() => parseIdx(idxBuffer([2, 0], []), 'empty.idx')).toThrow(/positive/);
    expect(() => parseIdx(idxBuffer([65536, 65536], []), 'huge.idx')).toThrow(/2\^31/);
    expect(() => parseIdx(new Uint8Array([0, 0]), 'short.idx')).toThrow(FormatError);
  });

  test('truncated file: header says 10 images, data is shorter', () => {
    const buf = idxBuffer([10, 2, 2], new Uint8Array(7 * 4));
    const err = thrown(() => parseIdx(buf, 'trunc-images.idx'));
    expect(err).toBeInstanceOf(FormatError);
    expect(err.code).toBe('E_FORMAT');
    expect(err.message).toContain('trunc-images.idx');
    expect(err.message).toContain(String(16 + 40)); // expected bytes
    expect(err.message).toContain(String(16 + 28)); // actual bytes
  });

  test('trailing bytes are a FormatError', () => {
    const buf = idxBuffer([2], [1, 2, 3]);
    expect(() => parseIdx(buf, 'trailing.idx')).toThrow(/trailing.*10 bytes.*got 11 bytes/);
  });

  test('readIdxFile reads raw and gzipped files alike', () => {
    const buf = idxBuffer([2, 2, 2], [0, 1, 2, 3, 250, 251, 252, 255]);
    const raw = path.join(tmpDir, 'a.idx');
    const gz = path.join(tmpDir, 'a.idx.gz');
    fs.writeFileSync(raw, buf);
    fs.writeFileSync(gz, zlib.gzipSync(buf));
    const fromRaw = readIdxFile(raw);
    const fromGz = readIdxFile(gz);
    expect(fromGz.dims).toEqual([2, 2, 2]);
    expect(Array.from(fromGz.data)).toEqual([0, 1, 2, 3, 250, 251, 252, 255]);
    expect(fromRaw).toEqual(fromGz);
  });

  test('truncated gzip stream is a FormatError naming the file', () => {
    const gz = zlib.gzipSync(idxBuffer([100], new Uint8Array(100).fill(3)));
    const file = path.join(tmpDir, 'cut.idx.gz');
    fs.writeFileSync(file, gz.subarray(0, gz.length - 10));
    const err = thrown(() => readIdxFile(file));
    expect(err).toBeInstanceOf(FormatError);
    expect(err.code).toBe('E_FORMAT');
    expect(err.message).toContain(file);
  });

  test('loadIdxDataset: raw files, count mismatch and missing files', () => {
    const dir = fs.mkdtempSync(path.join(tmpDir, 'idx-'));
    fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), idxBuffer([3, 2, 2], [0, 255, 51, 102, 0, 0, 0, 0, 255, 255, 255, 255]));
    fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte.gz'), zlib.gzipSync(idxBuffer([3], [4, 0, 9])));
    const ds = loadIdxDataset(dir, 'train');
    expect(ds.images.shape).toEqual([3, 2, 2, 1]);
    expect(Array.from(ds.images.data.subarray(0, 4))).toEqual([0, 1, 0.2, 0.4].map(Math.fround));
    expect(Array.from(ds.labels)).toEqual([4, 0, 9]);
    expect(ds.classes).toBe(10);

    fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte.gz'), zlib.gzipSync(idxBuffer([2], [4, 0])));
    expect(() => loadIdxDataset(dir, 'train')).toThrow(/expected 3 labels, got 2/);

    const missing = thrown(() => loadIdxDataset(dir, 't10k'));
    expect(missing).toBeInstanceOf(FormatError);
    expect(missing.message).toContain(path.join(dir, 't10k-images-idx3-ubyte.gz'));
    expect(missing.message).toContain(path.join(dir, 't10k-images-idx3-ubyte'));
    expect(() => loadIdxDataset(dir, 'test' as 'train')).toThrow(ArgumentError);
  });

  test('loadIdxDataset reads the real Fashion-MNIST t10k split', () => {
    const ds = loadIdxDataset(FASHION_DIR, 't10k');
    expect(ds.images.shape).toEqual([10000, 28, 28, 1]);
    expect(ds.labels.length).toBe(10000);
    expect(ds.classes).toBe(10);
    const counts = new Array(10).fill(0);
    for (const l of ds.labels) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(1000));
    expect(Array.from(ds.labels.subarray(0, 5))).toEqual([9, 2, 1, 1, 6]);
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const v of ds.images.data) {
      sum += v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
    expect(sum / ds.images.size).toBeCloseTo(0.2868, 3);
  });
});

describe('digits', () => {
  test('loadDigits returns 1797 8x8 images in [0, 1] with labels 0..9', () => {
    const ds = loadDigits();
    expect(ds.images.shape).toEqual([1797, 8, 8, 1]);
    expect(ds.labels.length).toBe(1797);
    expect(ds.classes).toBe(10);
    let min = Infinity;
    let max = -Infinity;
    for (const v of ds.images.data) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
    const counts = new Array(10).fill(0);
    for (const l of ds.labels) counts[l]++;
    for (const c of counts) expect(c).toBeGreaterThan(150);
    expect(Array.from(ds.labels.subarray(0, 10))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('dataset helpers', () => {
  function toy(n: number): Dataset {
    const images = new Tensor([n, 2, 1, 1]);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      images.data[2 * i] = i;
      images.data[2 * i + 1] = -i;
      labels[i] = i % 3;
    }
    return { images, labels, classes: 3 };
  }

  test('trainTestSplit is deterministic, disjoint and covers every row', () => {
    const ds = toy(50);
    const a = trainTestSplit(ds, 0.2, 1);
    const b = trainTestSplit(ds, 0.2, 1);
    expect(a.test.images.shape).toEqual([10, 2, 1, 1]);
    expect(a.train.images.shape).toEqual([40, 2, 1, 1]);
    expect(Array.from(a.test.images.data)).toEqual(Array.from(b.test.images.data));
    expect(Array.from(a.train.labels)).toEqual(Array.from(b.train.labels));
    const ids = (d: Dataset) => Array.from({ length: d.labels.length }, (_, i) => d.images.data[2 * i]);
    const trainIds = ids(a.train);
    const testIds = ids(a.test);
    expect(trainIds.filter((x) => testIds.includes(x))).toEqual([]);
    expect([...trainIds, ...testIds].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // rows stay intact: pixel pair and label travel together
    a.train.labels.forEach((l, i) => {
      expect(l).toBe(trainIds[i] % 3);
      expect(a.train.images.data[2 * i + 1]).toBe(-trainIds[i]);
    });
    const c = trainTestSplit(ds, 0.2, 2);
    expect(ids(c.test)).not.toEqual(testIds);
    for (const bad of [0, 1, -0.1, 1.5, NaN]) expect(() => trainTestSplit(ds, bad, 1)).toThrow(ArgumentError);
  });

  test('subset copies rows and checks indices', () => {
    const ds = toy(5);
    const s = subset(ds, [4, 0, 4]);
    expect(s.images.shape).toEqual([3, 2, 1, 1]);
    expect(Array.from(s.images.data)).toEqual([4, -4, 0, -0, 4, -4]);
    expect(Array.from(s.labels)).toEqual([1, 0, 1]);
    s.images.data[0] = 99;
    expect(ds.images.data[8]).toBe(4);
    expect(() => subset(ds, [5])).toThrow(ArgumentError);
    expect(() => subset(ds, [1.5])).toThrow(ArgumentError);
  });

  test('checkFinite names the argument and the first bad index', () => {
    expect(() => checkFinite(new Float32Array([1, 2, 3]), 'x')).not.toThrow();
    const err = thrown(() => checkFinite(new Float32Array([0, 1, NaN, Infinity]), 'inputs'));
    expect(err).toBeInstanceOf(ValueError);
    expect(err.code).toBe('E_VALUE');
    expect(err.message).toContain('inputs');
    expect(err.message).toContain('index 2');
    expect(() => checkFinite(new Float32Array([-Infinity]), 'w')).toThrow(/w: .*-Infinity at index 0/);
  });
});
