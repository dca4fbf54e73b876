/**
 * sgdMomentum (PyTorch semantics, see ../kernels.ts): g = grad + weightDecay * param;
 * velocity = momentum * velocity + g; param -= lr * velocity. hyper = [lr, momentum, weightDecay].
 * The param update uses the velocity as stored (float32), as the native kernel does.
 */
export function sgdMomentum(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const param = buffers[0];
  const grad = buffers[1];
  const velocity = buffers[2];
  const hyper = buffers[3];
  const size = ints[0];
  const lr = hyper[0];
  const momentum = hyper[1];
  const weightDecay = hyper[2];
  for (let i = 0; i < size; i++) {
    const p = param[i];
    velocity[i] = momentum * velocity[i] + (grad[i] + weightDecay * p);
    param[i] = p - lr * velocity[i];
  }
}
