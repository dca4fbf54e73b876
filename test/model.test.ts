/**
 * The model API on the backend of this run (CONVKIT_BACKEND): building, training,
 * gradients through whole plans against finite differences, determinism, callbacks.
 */
import { Tensor, input, conv2d, dense, flatten, maxPool2d, avgPool2d, relu, model, sequential, sgd, getBackend } from '../lib';
import { Dense } from '../lib/layers';
import { Random } from '../lib/random';
import { AbortError, StateError } from '../lib/errors';

function randomBatch(rows: number, shape: number[], seed: number, classes: number): { x: Tensor; y: Uint8Array } {
  const rng = new Random(seed);
  const x = new Tensor([rows, ...shape]);
  for (let i = 0; i < x.data.length; i++) x.data[i] = rng.uniformRange(-1, 1);
  const y = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) y[i] = rng.int(classes);
  return { x, y };
}

/** A small net that uses every layer kind, a strided conv, and a dense layer applied twice (shared weights). */
function smallNet(seed: number) {
  const x = input({ shape: [7, 7, 2] });
  let h = conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x);
  h = avgPool2d({ poolSize: 2, padding: 'same' }).apply(h); // 4x4x3
  h = conv2d({ filters: 4, kernelSize: 2, strides: 2 }).apply(h); // 2x2x4
  h = relu().apply(h);
  h = maxPool2d({ poolSize: 2 }).apply(h); // 1x1x4
  h = flatten().apply(h);
  const shared = dense({ units: 4, activation: 'relu' });
  h = shared.apply(shared.apply(h));
  const out = dense({ units: 3 }).apply(h);
  return model({ inputs: x, outputs: out, seed });
}

describe(`model on the ${getBackend().name} backend`, () => {
  test('sequential and functional forms give the same weights and predictions for one seed', async () => {
    const layersA = [conv2d({ filters: 4, kernelSize: 3, activation: 'relu' }), flatten(), dense({ units: 3 })];
    const a = sequential(layersA, { inputShape: [5, 5, 1], seed: 7 });
    const x = input({ shape: [5, 5, 1] });
    const y = dense({ units: 3 }).apply(flatten().apply(conv2d({ filters: 4, kernelSize: 3, activation: 'relu' }).apply(x)));
    const b = model({ inputs: x, outputs: y, seed: 7 });
    const wa = a.getWeights();
    const wb = b.getWeights();
    expect(wa.map((w) => w.shape)).toEqual([[3, 3, 1, 4], [4], [36, 3], [3]]);
    wa.forEach((w, i) => expect(Array.from(w.data)).toEqual(Array.from(wb[i].data)));
    const { x: batch } = randomBatch(3, [5, 5, 1], 1, 3);
    const pa = await a.predict(batch);
    const pb = await b.predict(batch);
    expect(pa.shape).toEqual([3, 3]);
    expect(Array.from(pa.data)).toEqual(Array.from(pb.data));
  });

  test('gradients of a whole training plan match central finite differences of the loss', async () => {
    const net = smallNet(3);
    net.compile({ optimizer: sgd({ lr: 0, momentum: 0 }), loss: 'softmaxCrossEntropy' });
    const { x, y } = randomBatch(5, [7, 7, 2], 11, 3);
    await net.fit(x, y, { batchSize: 5, epochs: 1, shuffle: false, seed: 1 });
    const grads = net.getGradients();
    const weights = net.getWeights();
    const rng = new Random(5);
    // Small enough to stay off ReLU and max-pool switch points, large enough for float32 losses.
    const eps = 1e-3;
    for (let p = 0; p < weights.length; p++) {
      const scale = Math.max(...Array.from(grads[p].data, Math.abs), 1e-3);
      for (let trial = 0; trial < 4; trial++) {
        const i = rng.int(weights[p].size);
        const probe = weights.map((w) => new Tensor(w.shape, w.data.slice()));
        probe[p].data[i] = weights[p].data[i] + eps;
        net.setWeights(probe);
        const up = (await net.evaluate(x, y)).loss;
        probe[p].data[i] = weights[p].data[i] - eps;
        net.setWeights(probe);
        const down = (await net.evaluate(x, y)).loss;
        const numeric = (up - down) / (2 * eps);
        // Relative to the parameter's largest gradient, plus the float32 rounding of the loss over 2*eps.
        expect(Math.abs(numeric - grads[p].data[i])).toBeLessThan(2e-2 * scale + 2e-4);
      }
    }
    net.setWeights(weights);
  });

  test('the same seeds give bit-identical weights after training', async () => {
    const run = async () => {
      const net = smallNet(21);
      net.compile({ optimizer: sgd({ lr: 0.05, momentum: 0.9 }) });
      const { x, y } = randomBatch(40, [7, 7, 2], 2, 3);
      await net.fit(x, y, { batchSize: 8, epochs: 2, seed: 4 });
      return net.getWeights();
    };
    const [a, b] = [await run(), await run()];
    a.forEach((w, i) => expect(Buffer.from(w.data.buffer).equals(Buffer.from(b[i].data.buffer))).toBe(true));
  });

  test('fit reports batches and epochs, validation metrics, and lowers the loss', async () => {
    const net = smallNet(8);
    net.compile({ optimizer: sgd({ lr: 0.05, momentum: 0.9 }) });
    // A learnable rule: the class is which third of the range the first pixel falls in.
    const { x } = randomBatch(120, [7, 7, 2], 3, 3);
    const y = new Uint8Array(120);
    for (let r = 0; r < 120; r++) y[r] = Math.min(2, Math.floor(((x.data[r * 98] + 1) / 2) * 3));
    const batches: number[] = [];
    const history = await net.fit(x, y, {
      batchSize: 16,
      epochs: 30,
      validationSplit: 0.25,
      seed: 3,
      onBatchEnd: (logs) => {
        if (logs.epoch === 0) batches.push(logs.size);
      },
    });
    expect(batches).toEqual([16, 16, 16, 16, 16, 10]); // 90 training rows
    expect(history.epochs).toHaveLength(30);
    const last = history.epochs[29];
    expect(last.valLoss).toBeDefined();
    expect(last.valAccuracy).toBeGreaterThanOrEqual(0);
    expect(last.loss).toBeLessThan(history.epochs[0].loss);
  });

  test('an AbortSignal stops fit within one batch and leaves the model usable', async () => {
    const net = smallNet(9);
    net.compile({ optimizer: sgd({ lr: 0.01 }) });
    const { x, y } = randomBatch(64, [7, 7, 2], 4, 3);
    const controller = new AbortController();
    let seen = 0;
    const fitting = net.fit(x, y, {
      batchSize: 4,
      epochs: 3,
      signal: controller.signal,
      onBatchEnd: () => {
        seen++;
        if (seen === 2) controller.abort();
      },
    });
    await expect(fitting).rejects.toBeInstanceOf(AbortError);
    expect(seen).toBe(2);
    const out = await net.predict(x);
    expect(out.shape).toEqual([64, 3]);
    expect(out.data.every(Number.isFinite)).toBe(true);
  });

  test('a model runs one call at a time and refuses work after dispose', async () => {
    const net = smallNet(10);
    net.compile({});
    const { x, y } = randomBatch(32, [7, 7, 2], 5, 3);
    const first = net.fit(x, y, { batchSize: 4, epochs: 1 });
    await expect(net.predict(x)).rejects.toBeInstanceOf(StateError);
    await first;
    net.dispose();
    await expect(net.predict(x)).rejects.toBeInstanceOf(StateError);
  });

  test('summary lists each layer with its output shape and parameter count', () => {
    const lines: string[] = [];
    const net = sequential([conv2d({ filters: 6, kernelSize: 5, padding: 'same', name: 'c1' }), flatten({ name: 'f' }), new Dense({ units: 10, name: 'out' })], {
      inputShape: [28, 28, 1],
    });
    const text = net.summary((l) => lines.push(l));
    expect(text).toMatch(/c1 \(conv2d\)\s+\[batch, 28, 28, 6\]\s+156/);
    expect(text).toMatch(/out \(dense\)\s+\[batch, 10\]\s+47050/);
    expect(text).toMatch(/Total params: 47206/);
    expect(lines).toHaveLength(1);
  });

  test('a training step reuses its plan: no new plans or arenas after the first epoch', async () => {
    const net = smallNet(12);
    net.compile({});
    const { x, y } = randomBatch(24, [7, 7, 2], 6, 3);
    const backend = net.backend;
    const createPlan = jest.spyOn(backend, 'createPlan');
    await net.fit(x, y, { batchSize: 8, epochs: 1 });
    const plansAfterFirst = createPlan.mock.calls.length;
    await net.fit(x, y, { batchSize: 8, epochs: 3 });
    expect(plansAfterFirst).toBe(1);
    expect(createPlan.mock.calls.length).toBe(1);
    createPlan.mockRestore();
  });
});

describe('cancellation', () => {
  test('predict and evaluate with an aborted signal give an AbortError; the model stays usable', async () => {
    const net = smallNet(13);
    net.compile({});
    const { x, y } = randomBatch(20, [7, 7, 2], 7, 3);
    const controller = new AbortController();
    controller.abort();
    await expect(net.predict(x, { signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
    await expect(net.evaluate(x, y, { signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
    expect((await net.predict(x)).shape).toEqual([20, 3]);
  });
});
