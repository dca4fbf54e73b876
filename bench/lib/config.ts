/** What every benchmark process agrees on: sizes, batch sizes and where the data lives. */
import * as path from 'path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
/** Fashion-MNIST in IDX form, beside the repository (the library itself never reads ../shared). */
export const FASHION_MNIST_DIR = process.env.CONVKIT_BENCH_DATA ?? path.resolve(REPO_ROOT, '..', 'shared', 'data', 'fashion-mnist');
export const CACHE_DIR = path.join(REPO_ROOT, 'bench', '.cache');
export const ONNX_LENET5 = path.join(CACHE_DIR, 'lenet5-b256.onnx');

export const TRAIN_BATCH = 64;
export const INFER_BATCH = 256;
/** Rows of synthetic training data (32 batches, reshuffled every epoch). */
export const TRAIN_ROWS_SYNTHETIC = 2048;
/** The conv2d benchmark layer: N64 C32 32x32, 64 filters 3x3, stride 1, padding same. */
export const CONV = { n: 64, h: 32, w: 32, c: 32, k: 64, kernel: 3 };
export const SGEMM_SIZES = [256, 512, 1024];

/** Forward FLOPs of the CONV layer (2 per multiply-add); backward-input and backward-filter cost the same each. */
export function convFlops(): number {
  const { n, h, w, c, k, kernel } = CONV;
  return 2 * n * h * w * k * kernel * kernel * c;
}
