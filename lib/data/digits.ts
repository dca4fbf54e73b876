/**
 * The UCI 8x8 handwritten digits, shipped in the package as data/digits.csv.gz: 1,797 rows,
 * no header, each row 64 pixel values 0..16 then the label 0..9.
 */
import * as fs from 'fs';
import * as path from 'path';
import { FormatError } from '../errors';
import { Tensor } from '../tensor';
import type { Dataset } from './dataset';
import { gunzipFile, isGzip } from './idx';

/** Resolves to <package>/data/digits.csv.gz from both lib/data (sources) and dist/data (build). */
export const DIGITS_PATH = path.join(__dirname, '..', '..', 'data', 'digits.csv.gz');
export const DIGITS_ROWS = 1797;
const SIDE = 8;
const PIXELS = SIDE * SIDE;
const MAX_PIXEL = 16;
const CLASSES = 10;
const INTEGER = /^\d+$/;

/** Loads the embedded digits: images [1797, 8, 8, 1] scaled by 1/16, labels 0..9. */
export function loadDigits(): Dataset {
  const file = DIGITS_PATH;
  let bytes: Uint8Array = fs.readFileSync(file);
  if (isGzip(bytes)) bytes = gunzipFile(bytes, file);
  const lines = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8').split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length !== DIGITS_ROWS) {
    throw new FormatError(`${file}: expected ${DIGITS_ROWS} rows, got ${lines.length}`);
  }
  const pixels = new Float32Array(DIGITS_ROWS * PIXELS);
  const labels = new Uint8Array(DIGITS_ROWS);
  for (let row = 0; row < lines.length; row++) {
    const lineNo = row + 1;
    const fields = lines[row].split(',');
    if (fields.length !== PIXELS + 1) {
      throw new FormatError(`${file}: line ${lineNo}: expected ${PIXELS + 1} fields, got ${fields.length}`);
    }
    for (let col = 0; col <= PIXELS; col++) {
      const text = fields[col].trim();
      const max = col < PIXELS ? MAX_PIXEL : CLASSES - 1;
      const value = INTEGER.test(text) ? Number(text) : NaN;
      if (!(value <= max)) {
        const what = col < PIXELS ? `pixel ${col}` : 'label';
        throw new FormatError(
          `${file}: line ${lineNo}, ${what}: expected an integer in 0..${max}, got ${JSON.stringify(fields[col])}`,
        );
      }
      if (col < PIXELS) pixels[row * PIXELS + col] = value / MAX_PIXEL;
      else labels[row] = value;
    }
  }
  return { images: new Tensor([DIGITS_ROWS, SIDE, SIDE, 1], pixels), labels, classes: CLASSES };
}
