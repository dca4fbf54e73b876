/**
 * examples/serve.ts: a node:http prediction service answers good requests with
 * predictions and bad ones (wrong sizes, NaN, oversized bodies, bad JSON) with a 4xx,
 * while a second model trains in the background.
 */
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { AddressInfo } from 'net';
import { data, sgd, loadModel } from '../lib';
import { digitsCnn } from '../lib/model';
import { startServer } from '../examples/serve';

function post(port: number, body: Buffer | string, type: string): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/predict', method: 'POST', headers: { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('the service predicts, validates requests, and keeps serving while a model trains', async () => {
  const digits = data.loadDigits();
  const net = digitsCnn(1);
  net.compile({ optimizer: sgd({ lr: 0.05, momentum: 0.9 }) });
  await net.fit(digits.images, digits.labels, { epochs: 3, batchSize: 32, seed: 1 });
  const file = path.join(os.tmpdir(), `convkit-serve-${process.pid}.ckm`);
  await net.save(file);
  const model = await loadModel(file);
  const background = digitsCnn(2);
  background.compile({ optimizer: sgd({ lr: 0.05, momentum: 0.9 }) });
  const server = await startServer({ model, port: 0, background });
  const port = (server.address() as AddressInfo).port;
  try {
    const images = Array.from({ length: 3 }, (_, r) => Array.from(digits.images.data.subarray(r * 64, (r + 1) * 64)));
    const good = await post(port, JSON.stringify({ inputs: images }), 'application/json');
    expect(good.status).toBe(200);
    expect(good.json.predictions).toHaveLength(3);
    expect(good.json.predictions.map((p: { label: number }) => p.label)).toEqual(Array.from(digits.labels.subarray(0, 3)));
    const raw = Buffer.from(digits.images.data.buffer, digits.images.data.byteOffset, 64 * 4);
    const rawAnswer = await post(port, raw, 'application/octet-stream');
    expect(rawAnswer.status).toBe(200);
    expect(rawAnswer.json.predictions[0].probabilities.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 5);

    expect(await post(port, Buffer.alloc(40), 'application/octet-stream')).toMatchObject({ status: 400, json: { error: expect.stringMatching(/10 values; each image needs 64/) } });
    expect(await post(port, Buffer.from(new Float32Array(64).fill(NaN).buffer), 'application/octet-stream')).toMatchObject({ status: 400, json: { error: expect.stringMatching(/inputs\[0\] is NaN/) } });
    expect(await post(port, '{"inputs": [1,', 'application/json')).toMatchObject({ status: 400, json: { error: 'body is not valid JSON' } });
    expect(await post(port, JSON.stringify({ inputs: ['a'] }), 'application/json')).toMatchObject({ status: 400 });
    expect(await post(port, Buffer.alloc(2 << 20), 'application/octet-stream')).toMatchObject({ status: 413 });
    expect(await post(port, 'x', 'text/plain')).toMatchObject({ status: 415 });

    // Many concurrent requests are batched through one model and all answered.
    const answers = await Promise.all(Array.from({ length: 40 }, () => post(port, raw, 'application/octet-stream')));
    expect(answers.every((a) => a.status === 200)).toBe(true);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  // The background model did train meanwhile (or is training); let its current fit finish.
  await new Promise((resolve) => setTimeout(resolve, 200));
});
