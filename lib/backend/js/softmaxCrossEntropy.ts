/**
 * softmaxCrossEntropy (see ../kernels.ts): loss[0] = mean over rows of -log softmax(logits)[label],
 * dlogits = (softmax(logits) - onehot(label)) / rows. Each row subtracts its max before exp;
 * the loss is summed in a float64. A label that is not an integer in [0, classes) adds nothing
 * to the loss and is never used as an index (its one-hot row is all zeros), and the mean
 * still divides by rows.
 */

let exps = new Float64Array(0);

export function softmaxCrossEntropy(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const logits = buffers[0];
  const labels = buffers[1];
  const loss = buffers[2];
  const dlogits = buffers[3];
  const rows = ints[0] | 0;
  const K = ints[1] | 0;
  if (exps.length < K) exps = new Float64Array(K);
  const e = exps;
  const invRows = 1 / rows;
  let total = 0;

  for (let r = 0, off = 0; r < rows; r++, off += K) {
    let m = logits[off];
    for (let j = 1; j < K; j++) {
      const v = logits[off + j];
      if (v > m) m = v;
    }
    let sum = 0;
    for (let j = 0; j < K; j++) {
      const v = Math.exp(logits[off + j] - m);
      e[j] = v;
      sum += v;
    }
    const scale = invRows / sum;
    for (let j = 0; j < K; j++) dlogits[off + j] = e[j] * scale;
    const label = labels[r];
    if (label >= 0 && label < K && Number.isInteger(label)) {
      total += Math.log(sum) + m - logits[off + label];
      dlogits[off + label] = (e[label] / sum - 1) * invRows;
    }
  }
  loss[0] = total * invRows;
}
