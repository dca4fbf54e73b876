/**
 * IDX files (MNIST, Fashion-MNIST): a big-endian header (two zero bytes, a type code, the
 * number of dims, one uint32 per dim) followed by the raw values. Only uint8 is supported.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { ArgumentError, FormatError } from '../errors';
import { Tensor } from '../tensor';
import type { Dataset } from './dataset';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const TYPE_NAMES: Record<number, string> = {
  0x08: 'uint8',
  0x09: 'int8',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

const hex = (n: number, width: number): string => '0x' + n.toString(16).padStart(width, '0');

/** Parses an uncompressed IDX buffer; `name` (usually the file path) goes into every error. */
export function parseIdx(bytes: Uint8Array, name: string): IdxArray {
  if (bytes.length < 4) {
    throw new FormatError(`${name}: expected an IDX header of at least 4 bytes, got ${bytes.length} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const type = bytes[2];
  const ndims = bytes[3];
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new FormatError(`${name}: bad IDX magic: expected 0x0000TTNN (e.g. 0x00000803), got ${hex(magic, 8)}`);
  }
  if (type !== 0x08) {
    const known = TYPE_NAMES[type] ? ` (${TYPE_NAMES[type]})` : '';
    throw new FormatError(`${name}: unsupported IDX type code: expected 0x08 (uint8), got ${hex(type, 2)}${known}`);
  }
  if (ndims < 1 || ndims > 4) {
    throw new FormatError(`${name}: unsupported IDX dimension count: expected 1..4, got ${ndims} (magic ${hex(magic, 8)})`);
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new FormatError(
      `${name}: truncated IDX header: expected ${headerBytes} bytes for ${ndims} dims, got ${bytes.length} bytes`,
    );
  }
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    if (d === 0) {
      throw new FormatError(`${name}: IDX dimension ${i}: expected a positive size, got 0`);
    }
    dims.push(d);
    count *= d; // exact: each factor < 2^32 and we stop once past 2^31
    if (count >= 2 ** 31) {
      throw new FormatError(
        `${name}: IDX dims [${dims.join(', ')}${i + 1 < ndims ? ', ...' : ''}]: expected fewer than 2^31 elements, got ${count}${i + 1 < ndims ? ' or more' : ''}`,
      );
    }
  }
  const expected = headerBytes + count;
  if (bytes.length !== expected) {
    const what = bytes.length < expected ? 'truncated' : 'trailing bytes in';
    throw new FormatError(
      `${name}: ${what} IDX file: dims [${dims.join(', ')}] need ${expected} bytes (${headerBytes} header + ${count} data), got ${bytes.length} bytes`,
    );
  }
  return { dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerBytes, count) };
}

/** True when the buffer starts with the gzip magic 0x1f 0x8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Gunzips `bytes`, turning zlib's errors into a FormatError that names the file. */
export function gunzipFile(bytes: Uint8Array, file: string): Uint8Array {
  try {
    return zlib.gunzipSync(bytes);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new FormatError(`${file}: corrupt or truncated gzip stream (${bytes.length} compressed bytes): ${reason}`);
  }
}

/** Reads an IDX file, gunzipping it first when it is gzip-compressed (by content, not name). */
export function readIdxFile(file: string): IdxArray {
  let bytes: Uint8Array = fs.readFileSync(file);
  if (isGzip(bytes)) bytes = gunzipFile(bytes, file);
  return parseIdx(bytes, file);
}

export type IdxSplit = 'train' | 't10k';

function findFile(dir: string, base: string): string {
  const tried = [path.join(dir, base + '.gz'), path.join(dir, base)];
  for (const p of tried) {
    if (fs.existsSync(p) && fs.statSync(p).isFile()) return p;
  }
  throw new FormatError(`missing IDX file: expected one of ${tried.join(', ')}, found neither`);
}

/**
 * Loads an MNIST-style split from `dir`: images as [N, rows, cols, 1] scaled to [0, 1],
 * labels 0..9. Each file may be gzipped (`.gz`) or raw.
 */
export function loadIdxDataset(dir: string, split: IdxSplit): Dataset {
  if (split !== 'train' && split !== 't10k') {
    throw new ArgumentError(`split: expected 'train' or 't10k', got ${JSON.stringify(split)}`);
  }
  const imagesFile = findFile(dir, `${split}-images-idx3-ubyte`);
  const labelsFile = findFile(dir, `${split}-labels-idx1-ubyte`);
  const images = readIdxFile(imagesFile);
  const labels = readIdxFile(labelsFile);
  if (images.dims.length !== 3) {
    throw new FormatError(`${imagesFile}: expected 3 dims [N, rows, cols], got ${images.dims.length} dims [${images.dims.join(', ')}]`);
  }
  if (labels.dims.length !== 1) {
    throw new FormatError(`${labelsFile}: expected 1 dim [N], got ${labels.dims.length} dims [${labels.dims.join(', ')}]`);
  }
  const [n, rows, cols] = images.dims;
  if (labels.dims[0] !== n) {
    throw new FormatError(
      `${labelsFile}: label count does not match ${imagesFile}: expected ${n} labels, got ${labels.dims[0]}`,
    );
  }
  const classes = 10;
  for (let i = 0; i < n; i++) {
    if (labels.data[i] >= classes) {
      throw new FormatError(`${labelsFile}: label ${i}: expected 0..${classes - 1}, got ${labels.data[i]}`);
    }
  }
  const pixels = new Float32Array(images.data.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = images.data[i] / 255;
  return {
    images: new Tensor([n, rows, cols, 1], pixels),
    labels: new Uint8Array(labels.data), // own copy, not a view into the file buffer
    classes,
  };
}
