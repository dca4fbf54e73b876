/**
 * Batch normalization over the last (channel) axis, PyTorch conventions: the biased
 * variance normalises a batch, the unbiased one feeds the running variance, momentum 0.1
 * is the weight of the new batch, eps 1e-5. Training plans use batch statistics and update
 * the running ones; evaluation and inference plans use the running statistics.
 */
import type { BufferRef } from '../plan/builder';
import { ArgumentError, ShapeError } from '../errors';
import { shapeToString } from '../tensor';
import { BackwardContext, ForwardContext, Layer, LayerOptions, Param, Shape } from './layer';
import { checkFusedActivation, FusedActivation } from './activation';

export interface BatchNormOptions extends LayerOptions {
  momentum?: number;
  eps?: number;
  /**
   * 'relu' applies relu to the normalised output in the same kernel (conv, batch norm,
   * relu blocks): the same result as a relu layer after it, without a pass of its own
   * over the activations in either direction. Default 'linear'.
   */
  activation?: FusedActivation;
}

export class BatchNorm extends Layer {
  readonly momentum: number;
  readonly eps: number;
  readonly activation: FusedActivation;

  constructor(options: BatchNormOptions = {}) {
    super('batch_norm', options);
    this.momentum = options.momentum ?? 0.1;
    this.eps = options.eps ?? 1e-5;
    this.activation = checkFusedActivation(this.name, options.activation);
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw new ArgumentError(`${this.name}: momentum must be in [0, 1], got ${this.momentum}`);
    if (!(this.eps > 0 && Number.isFinite(this.eps))) throw new ArgumentError(`${this.name}: eps must be a positive number, got ${this.eps}`);
  }

  get kind(): string {
    return 'batchNorm';
  }

  config(): Record<string, unknown> {
    return { momentum: this.momentum, eps: this.eps, activation: this.activation };
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    if (inputShapes[0].length < 1) throw new ShapeError(`${this.name}: needs a channel axis, got ${shapeToString(inputShapes[0])}`);
    return inputShapes[0];
  }

  protected override createParams(inputShapes: readonly Shape[]): Param[] {
    const c = inputShapes[0][inputShapes[0].length - 1];
    const fans = { fanIn: c, fanOut: c };
    return [
      new Param(`${this.name}/gamma`, [c], 'ones', fans),
      new Param(`${this.name}/beta`, [c], 'zeros', fans),
      new Param(`${this.name}/runningMean`, [c], 'zeros', fans, false),
      new Param(`${this.name}/runningVar`, [c], 'ones', fans, false),
    ];
  }

  forward(ctx: ForwardContext): BufferRef {
    const [gamma, beta, runningMean, runningVar] = this.params;
    const c = gamma.size;
    const x = ctx.inputs[0];
    const rows = x.length / c;
    const y = ctx.newBuffer(ctx.outputShape);
    if (ctx.training) {
      const mean = ctx.builder.workBuffer(c);
      const invStd = ctx.builder.workBuffer(c);
      ctx.builder.emit(
        this.activation === 'relu' ? 'batchNormReluTrain' : 'batchNormTrain',
        [x, ctx.param(gamma), ctx.param(beta), y, mean, invStd, ctx.param(runningMean), ctx.param(runningVar)],
        [rows, c],
        [this.eps, this.momentum],
      );
      ctx.save('mean', mean);
      ctx.save('invStd', invStd);
    } else {
      ctx.builder.emit('batchNormInference', [x, ctx.param(gamma), ctx.param(beta), ctx.param(runningMean), ctx.param(runningVar), y], [rows, c], [this.eps]);
      if (this.activation === 'relu') ctx.builder.emit('relu', [y, y], [y.length]);
    }
    return y;
  }

  backward(ctx: BackwardContext): void {
    const [gamma, beta] = this.params;
    const c = gamma.size;
    const x = ctx.inputs[0];
    const rows = x.length / c;
    const dx = ctx.newBuffer(ctx.inputShapes[0]);
    const dgamma = ctx.paramGradTarget(gamma);
    const dbeta = ctx.paramGradTarget(beta);
    if (this.activation === 'relu') {
      ctx.builder.emit('batchNormReluBackward', [x, ctx.param(gamma), ctx.saved('mean'), ctx.saved('invStd'), ctx.output, ctx.dOutput, dx, dgamma, dbeta], [rows, c]);
    } else {
      ctx.builder.emit('batchNormBackward', [x, ctx.param(gamma), ctx.saved('mean'), ctx.saved('invStd'), ctx.dOutput, dx, dgamma, dbeta], [rows, c]);
    }
    ctx.paramGradDone(gamma, dgamma);
    ctx.paramGradDone(beta, dbeta);
    if (ctx.needsInputGrad(0)) ctx.addInputGrad(0, dx);
  }
}
