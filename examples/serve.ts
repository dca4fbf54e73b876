/**
 * A prediction service on plain node:http. It loads a saved model and answers
 * POST /predict, while (optionally) a second model trains in the background on the same
 * process: on the native backend both run off the main thread, so requests keep flowing.
 *
 *   npx ts-node --transpile-only examples/serve.ts [--model file.ckm] [--port 8080] [--train-in-background]
 *
 * Without --model it trains the digits CNN for a few epochs, saves it, and serves the
 * loaded copy. Requests:
 *   POST /predict  Content-Type: application/json          {"inputs": [[64 numbers], ...]} or a flat array
 *   POST /predict  Content-Type: application/octet-stream  raw little-endian float32, 64 per image
 *   GET  /health
 * Bad requests (wrong sizes, NaN, oversized bodies, bad JSON) get a 4xx with a message.
 */
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { Model, Tensor, data, sgd, loadModel, ConvkitError } from '../lib';
import { digitsCnn } from '../lib/model';

const MAX_BODY_BYTES = 1 << 20;
const MAX_IMAGES_PER_REQUEST = 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Serialises predictions on one model and batches requests that arrive while a batch
 * runs: a model runs one call at a time, and one call for many images is cheaper.
 */
class PredictQueue {
  private pending: { x: Float32Array; rows: number; resolve: (out: Float32Array) => void; reject: (err: unknown) => void }[] = [];
  private running = false;

  constructor(private readonly model: Model) {}

  predict(x: Float32Array, rows: number): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.pending.push({ x, rows, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.pending.length);
      const rows = batch.reduce((n, r) => n + r.rows, 0);
      const rowSize = batch[0].x.length / batch[0].rows;
      const x = new Float32Array(rows * rowSize);
      let offset = 0;
      for (const r of batch) {
        x.set(r.x, offset);
        offset += r.x.length;
      }
      try {
        const out = await this.model.predict(new Tensor([rows, ...this.model.inputShape], x));
        const width = out.data.length / rows;
        let row = 0;
        for (const r of batch) {
          r.resolve(out.data.slice(row * width, (row + r.rows) * width));
          row += r.rows;
        }
      } catch (err) {
        for (const r of batch) r.reject(err);
      }
    }
    this.running = false;
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      reject(new HttpError(413, `body of ${declared} bytes is over the limit of ${MAX_BODY_BYTES}`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, `body is over the limit of ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Turns a request body into a batch of images, or throws a 400 naming what is wrong. */
function parseInputs(body: Buffer, contentType: string, imageSize: number): { x: Float32Array; rows: number } {
  let x: Float32Array;
  if (contentType.startsWith('application/octet-stream')) {
    if (body.length % 4 !== 0) throw new HttpError(400, `raw float32 body has ${body.length} bytes, not a multiple of 4`);
    x = new Float32Array(body.length / 4);
    for (let i = 0; i < x.length; i++) x[i] = body.readFloatLE(i * 4);
  } else if (contentType.startsWith('application/json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new HttpError(400, 'body is not valid JSON');
    }
    const inputs = (parsed as { inputs?: unknown })?.inputs;
    if (!Array.isArray(inputs)) throw new HttpError(400, "JSON body must be { \"inputs\": [...] }");
    const flat = (inputs as unknown[]).flat(Infinity) as unknown[];
    x = new Float32Array(flat.length);
    for (let i = 0; i < flat.length; i++) {
      if (typeof flat[i] !== 'number') throw new HttpError(400, `inputs[${i}] is not a number`);
      x[i] = flat[i] as number;
    }
  } else {
    throw new HttpError(415, 'Content-Type must be application/json or application/octet-stream');
  }
  if (x.length === 0 || x.length % imageSize !== 0) {
    throw new HttpError(400, `inputs hold ${x.length} values; each image needs ${imageSize}`);
  }
  const rows = x.length / imageSize;
  if (rows > MAX_IMAGES_PER_REQUEST) throw new HttpError(413, `${rows} images in one request; the limit is ${MAX_IMAGES_PER_REQUEST}`);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw new HttpError(400, `inputs[${i}] is ${x[i]}; values must be finite`);
  }
  return { x, rows };
}

function softmaxRows(logits: Float32Array, rows: number): { label: number; probabilities: number[] }[] {
  const classes = logits.length / rows;
  const out: { label: number; probabilities: number[] }[] = [];
  for (let r = 0; r < rows; r++) {
    const row = Array.from(logits.subarray(r * classes, (r + 1) * classes));
    const max = Math.max(...row);
    const exps = row.map((v) => Math.exp(v - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    const probabilities = exps.map((e) => e / sum);
    out.push({ label: probabilities.indexOf(Math.max(...probabilities)), probabilities });
  }
  return out;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startServer(options: { model: Model; port: number; background?: Model }): Promise<http.Server> {
  const queue = new PredictQueue(options.model);
  const imageSize = options.model.inputShape.reduce((a, b) => a * b, 1);
  const training = { epochs: 0, loss: NaN, running: false };
  if (options.background) {
    const digits = data.loadDigits();
    const bg = options.background;
    training.running = true;
    void (async () => {
      while (training.running) {
        await bg.fit(digits.images, digits.labels, {
          epochs: 1,
          batchSize: 32,
          onEpochEnd: (l) => {
            training.epochs++;
            training.loss = l.loss;
          },
        });
      }
    })();
  }
  const server = http.createServer(async (req, res) => {
    try {
      if (req.url === '/health' && req.method === 'GET') {
        send(res, 200, { status: 'ok', background: options.background ? { epochs: training.epochs, loss: training.loss } : null });
        return;
      }
      if (req.url !== '/predict') throw new HttpError(404, `no route ${req.url}`);
      if (req.method !== 'POST') throw new HttpError(405, 'use POST /predict');
      const body = await readBody(req);
      const { x, rows } = parseInputs(body, String(req.headers['content-type'] ?? ''), imageSize);
      const logits = await queue.predict(x, rows);
      send(res, 200, { predictions: softmaxRows(logits, rows) });
    } catch (err) {
      if (err instanceof HttpError) send(res, err.status, { error: err.message });
      else if (err instanceof ConvkitError) send(res, 400, { error: err.message, code: err.code });
      else send(res, 500, { error: 'internal error' });
    }
  });
  server.on('close', () => (training.running = false));
  await new Promise<void>((resolve) => server.listen(options.port, '127.0.0.1', resolve));
  return server;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  let modelPath = flag('--model');
  if (!modelPath) {
    const { train } = data.trainTestSplit(data.loadDigits(), 0.2, 1);
    const net = digitsCnn(1);
    net.compile({ optimizer: sgd({ lr: 0.05, momentum: 0.9 }) });
    await net.fit(train.images, train.labels, { epochs: 5, batchSize: 32, seed: 1 });
    modelPath = path.join(os.tmpdir(), `convkit-digits-${process.pid}.ckm`);
    await net.save(modelPath);
  }
  const model = await loadModel(modelPath);
  let background: Model | undefined;
  if (argv.includes('--train-in-background')) {
    background = digitsCnn(2);
    background.compile({ optimizer: sgd({ lr: 0.05, momentum: 0.9 }) });
  }
  const port = Number(flag('--port') ?? 8080);
  const server = await startServer({ model, port, background });
  const address = server.address();
  console.log(`listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}${background ? ' (training in the background)' : ''}`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
