/** The CLI's main job: `convkit train` on the embedded digits reaches at least 95% test accuracy. */
import { main, parseTrainArgs } from '../lib/cli';
import { getBackend } from '../lib/backend';
import { ArgumentError } from '../lib/errors';

async function runCli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const write = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err.push(String(chunk));
    return true;
  });
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('') };
  } finally {
    log.mockRestore();
    write.mockRestore();
  }
}

test(`convkit train reaches at least 95% on the embedded digits (${getBackend().name} backend)`, async () => {
  const { code, out, err } = await runCli(['train', '--backend', getBackend().name]);
  expect(code).toBe(0);
  expect(err).toMatch(/epoch 15\/15 step \d+\/45 {2}loss [\d.]+ {2}acc [\d.]+ {2}\d+ images\/s {2}left/);
  const accuracy = Number(/test accuracy: ([\d.]+)%/.exec(out)?.[1]);
  expect(accuracy).toBeGreaterThanOrEqual(95);
});

test('convkit info prints the backend', async () => {
  const { code, out } = await runCli(['info']);
  expect(code).toBe(0);
  expect(JSON.parse(out)).toMatchObject({ backend: getBackend().name });
});

test('bad flags are typed errors naming the flag', async () => {
  expect(() => parseTrainArgs(['--epochs', '0'])).toThrow(ArgumentError);
  expect(() => parseTrainArgs(['--lr', 'fast'])).toThrow(/--lr/);
  const { code, err } = await runCli(['train', '--backend', 'gpu']);
  expect(code).toBe(1);
  expect(err).toMatch(/--backend expects native or js/);
});
