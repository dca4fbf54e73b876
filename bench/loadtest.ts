/**
 * Load test of examples/serve.ts on loopback: starts the server (with and without a model
 * training in the background), keeps C keep-alive connections busy with POST /predict for
 * a fixed time, and reports requests/s and latency percentiles. Also checks that bad
 * requests get 4xx answers.
 *
 *   npx ts-node --transpile-only bench/loadtest.ts [--seconds 10] [--connections 8]
 */
import { spawn, ChildProcess } from 'child_process';
import * as http from 'http';
import * as path from 'path';

interface Result {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
}

function startServer(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(__dirname, '..', 'examples', 'serve.ts'), '--port', '0', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 120000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
}

function request(agent: http.Agent, port: number, body: Buffer | string, contentType: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/predict', method: 'POST', agent, headers: { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function load(port: number, seconds: number, connections: number): Promise<Result> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const image = Buffer.alloc(64 * 4);
  for (let i = 0; i < 64; i++) image.writeFloatLE(((i * 7) % 17) / 16, i * 4);
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        const r = await request(agent, port, image, 'application/octet-stream');
        latencies.push(performance.now() - t);
        if (r.status !== 200) errors++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { requests: latencies.length, seconds: elapsed, p50: at(0.5), p99: at(0.99), max: latencies[latencies.length - 1], errors };
}

async function checkBadRequests(port: number): Promise<string[]> {
  const agent = new http.Agent();
  const cases: [string, Buffer | string, string, number][] = [
    ['wrong size', Buffer.alloc(10 * 4), 'application/octet-stream', 400],
    ['NaN', Buffer.from(new Float32Array(64).fill(NaN).buffer), 'application/octet-stream', 400],
    ['bad JSON', '{"inputs": [1, 2', 'application/json', 400],
    ['oversized', Buffer.alloc(2 << 20), 'application/octet-stream', 413],
    ['wrong content type', 'x', 'text/plain', 415],
  ];
  const lines: string[] = [];
  for (const [what, body, type, expected] of cases) {
    const r = await request(agent, port, body, type).catch((e: Error) => ({ status: -1, text: e.message }));
    lines.push(`${what}: ${r.status} ${r.text}${r.status === expected ? '' : `  (expected ${expected})`}`);
  }
  agent.destroy();
  return lines;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const seconds = Number(argv[argv.indexOf('--seconds') + 1] || 10) || 10;
  const connections = Number(argv[argv.indexOf('--connections') + 1] || 8) || 8;
  for (const background of [false, true]) {
    const { child, port } = await startServer(background ? ['--train-in-background'] : []);
    try {
      if (!background) for (const line of await checkBadRequests(port)) console.log(`  ${line}`);
      await load(port, 1, connections); // warm-up
      const r = await load(port, seconds, connections);
      console.log(
        `${background ? 'with' : 'without'} background training: ${(r.requests / r.seconds).toFixed(0)} requests/s, ` +
          `p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(1)} ms, ${r.errors} errors ` +
          `(${connections} connections, ${r.seconds.toFixed(1)} s, 1 image per request)`,
      );
    } finally {
      child.kill('SIGTERM');
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
