/**
 * The command line: `convkit train` (embedded digits, or LeNet-5 on an IDX folder with
 * --data) and `convkit info`. Progress goes to stderr, results to stdout.
 */
import * as fs from 'fs';
import * as path from 'path';
import { backendInfo, setBackend, BackendName } from '../backend';
import { loadDigits, loadIdxDataset, trainTestSplit, Dataset } from '../data';
import { digitsCnn, lenet5, Model, BatchLogs } from '../model';
import { sgd } from '../optim';
import { ArgumentError, ConvkitError } from '../errors';

const USAGE = `usage: convkit <command> [options]

commands:
  train     train a CNN; without --data, a small CNN on the embedded 8x8 digits
  info      print the backend in use (native or js), its ISA and thread count

train options:
  --data <dir>        an IDX folder (MNIST / Fashion-MNIST layout): trains LeNet-5
  --epochs <n>        passes over the training set (digits: 15, IDX: 5)
  --batch-size <n>    examples per step (digits: 32, IDX: 64)
  --lr <x>            SGD learning rate (digits: 0.05, IDX: 0.01); momentum is 0.9
  --seed <n>          seeds initialisation, the split and shuffling (default 1)
  --backend <name>    native or js (default: native when the addon is built)
`;

interface TrainArgs {
  data?: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed: number;
  backend?: BackendName;
}

function parseNumber(flag: string, value: string | undefined, integer: boolean): number {
  const n = Number(value);
  if (value === undefined || value === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n <= 0) {
    throw new ArgumentError(`${flag} expects a positive ${integer ? 'integer' : 'number'}, got ${value === undefined ? 'nothing' : `'${value}'`}`);
  }
  return n;
}

export function parseTrainArgs(argv: string[]): TrainArgs {
  const args: TrainArgs = { seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    switch (flag) {
      case '--data':
        if (!value) throw new ArgumentError('--data expects a folder');
        args.data = value;
        break;
      case '--epochs':
        args.epochs = parseNumber(flag, value, true);
        break;
      case '--batch-size':
        args.batchSize = parseNumber(flag, value, true);
        break;
      case '--lr':
        args.lr = parseNumber(flag, value, false);
        break;
      case '--seed':
        args.seed = parseNumber(flag, value, true);
        break;
      case '--backend':
        if (value !== 'native' && value !== 'js') throw new ArgumentError(`--backend expects native or js, got '${value ?? ''}'`);
        args.backend = value;
        break;
      default:
        throw new ArgumentError(`unknown option '${flag}'\n${USAGE}`);
    }
    i++;
  }
  return args;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Prints loss, accuracy, images/s and time left during each epoch: in place on a TTY, every ~10% otherwise. */
class Progress {
  private epochStart = 0;
  private seen = 0;
  private lossSum = 0;
  private hits = 0;
  private lastPrinted = -1;
  private readonly tty = process.stderr.isTTY === true;

  constructor(
    private readonly epochs: number,
    private readonly stepsPerEpoch: number,
  ) {
    this.startEpoch();
  }

  startEpoch(): void {
    this.epochStart = performance.now();
    this.seen = 0;
    this.lossSum = 0;
    this.hits = 0;
    this.lastPrinted = -1;
  }

  batch(logs: BatchLogs): void {
    this.seen += logs.size;
    this.lossSum += logs.loss * logs.size;
    this.hits += (logs.accuracy ?? 0) * logs.size;
    const step = logs.batch + 1;
    const tenth = Math.floor((step * 10) / this.stepsPerEpoch);
    if (!this.tty && tenth === this.lastPrinted) return;
    this.lastPrinted = tenth;
    const elapsed = (performance.now() - this.epochStart) / 1000;
    const rate = this.seen / elapsed;
    const left = ((this.stepsPerEpoch - step) / step) * elapsed;
    const line =
      `epoch ${logs.epoch + 1}/${this.epochs} step ${step}/${this.stepsPerEpoch}` +
      `  loss ${(this.lossSum / this.seen).toFixed(4)}  acc ${(this.hits / this.seen).toFixed(4)}` +
      `  ${Math.round(rate)} images/s  left ${formatDuration(left)}`;
    process.stderr.write(this.tty ? `\r${line}\x1b[K` : `${line}\n`);
  }

  endEpoch(text: string): void {
    process.stderr.write(this.tty ? `\r${text}\x1b[K\n` : `${text}\n`);
    this.startEpoch();
  }
}

async function train(argv: string[]): Promise<number> {
  const args = parseTrainArgs(argv);
  if (args.backend) setBackend(args.backend);
  let train: Dataset;
  let test: Dataset;
  let model: Model;
  let defaults: { epochs: number; batchSize: number; lr: number };
  if (args.data) {
    const dir = path.resolve(args.data);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ArgumentError(`--data: '${args.data}' is not a folder`);
    train = loadIdxDataset(dir, 'train');
    test = loadIdxDataset(dir, 't10k');
    model = lenet5([train.images.shape[1], train.images.shape[2], 1], train.classes, args.seed);
    defaults = { epochs: 5, batchSize: 64, lr: 0.01 };
  } else {
    ({ train, test } = trainTestSplit(loadDigits(), 0.2, args.seed));
    model = digitsCnn(args.seed);
    defaults = { epochs: 15, batchSize: 32, lr: 0.05 };
  }
  const epochs = args.epochs ?? defaults.epochs;
  const batchSize = args.batchSize ?? defaults.batchSize;
  const lr = args.lr ?? defaults.lr;
  const info = backendInfo();
  console.log(
    `convkit: training ${model.name} on ${args.data ? path.basename(path.resolve(args.data)) : 'the embedded 8x8 digits'} ` +
      `(${train.labels.length} train, ${test.labels.length} test) with the ${info.backend} backend (${info.isa}, ${info.threads} thread${info.threads === 1 ? '' : 's'})`,
  );
  console.log(`convkit: ${epochs} epochs, batch ${batchSize}, SGD lr ${lr} momentum 0.9, seed ${args.seed}`);
  model.compile({ optimizer: sgd({ lr, momentum: 0.9 }), loss: 'softmaxCrossEntropy' });
  const progress = new Progress(epochs, Math.ceil(train.labels.length / batchSize));
  const started = performance.now();
  await model.fit(train.images, train.labels, {
    epochs,
    batchSize,
    seed: args.seed,
    onBatchEnd: (logs) => progress.batch(logs),
    onEpochEnd: (logs) =>
      progress.endEpoch(`epoch ${logs.epoch + 1}/${epochs}  loss ${logs.loss.toFixed(4)}  acc ${(logs.accuracy ?? 0).toFixed(4)}`),
  });
  const seconds = (performance.now() - started) / 1000;
  const result = await model.evaluate(test.images, test.labels);
  console.log(`convkit: trained in ${seconds.toFixed(1)}s`);
  console.log(`test accuracy: ${((result.accuracy ?? 0) * 100).toFixed(2)}%  (test loss ${result.loss.toFixed(4)})`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'train':
        return await train(rest);
      case 'info':
        console.log(JSON.stringify(backendInfo(), null, 2));
        return 0;
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE);
        return command === undefined ? 1 : 0;
      default:
        process.stderr.write(`convkit: unknown command '${command}'\n${USAGE}`);
        return 1;
    }
  } catch (err) {
    if (err instanceof ConvkitError) {
      process.stderr.write(`convkit: ${err.message} [${err.code}]\n`);
      return 1;
    }
    throw err;
  }
}
