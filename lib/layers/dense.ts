/** Fully connected layer over the last axis: y = x W + b, with a fused activation. */
import type { BufferRef } from '../plan/builder';
import { ShapeError } from '../errors';
import { shapeToString } from '../tensor';
import { ActivationName, checkActivation, emitActivation, emitActivationBackward, emitActivationBackwardWithBias } from './activation';
import { Initializer, checkInitializer } from './initializers';
import { BackwardContext, ForwardContext, Layer, LayerOptions, Param, Shape, positiveInt } from './layer';

export interface DenseOptions extends LayerOptions {
  units: number;
  activation?: ActivationName;
  useBias?: boolean;
  kernelInitializer?: Initializer;
  biasInitializer?: Initializer;
}

export class Dense extends Layer {
  readonly units: number;
  readonly activation: ActivationName;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;

  constructor(options: DenseOptions) {
    super('dense', options);
    const o = options ?? ({} as DenseOptions);
    this.units = positiveInt(this.name, 'units', o.units);
    this.activation = checkActivation(this.name, o.activation);
    this.useBias = o.useBias ?? true;
    this.kernelInitializer = checkInitializer(this.name, 'kernelInitializer', o.kernelInitializer ?? 'glorotUniform');
    this.biasInitializer = checkInitializer(this.name, 'biasInitializer', o.biasInitializer ?? 'zeros');
  }

  get kind(): string {
    return 'dense';
  }

  config(): Record<string, unknown> {
    return { units: this.units, activation: this.activation, useBias: this.useBias };
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const s = inputShapes[0];
    if (s.length < 1) throw new ShapeError(`${this.name}: needs an input with a feature axis, got shape ${shapeToString(s)}`);
    return [...s.slice(0, -1), this.units];
  }

  protected override createParams(inputShapes: readonly Shape[]): Param[] {
    const features = inputShapes[0][inputShapes[0].length - 1];
    const fans = { fanIn: features, fanOut: this.units };
    const params = [new Param(`${this.name}/kernel`, [features, this.units], this.kernelInitializer, fans)];
    if (this.useBias) params.push(new Param(`${this.name}/bias`, [this.units], this.biasInitializer, fans));
    return params;
  }

  forward(ctx: ForwardContext): BufferRef {
    const [kernel, bias] = this.params;
    const features = kernel.shape[0];
    const x = ctx.inputs[0];
    const rows = x.length / features;
    const y = ctx.newBuffer(ctx.outputShape);
    if (bias && (this.activation === 'relu' || this.activation === 'linear')) {
      // Bias and relu in the matmul's epilogue.
      const relu = this.activation === 'relu' ? 1 : 0;
      ctx.builder.emit('matmulBiasActivation', [x, ctx.param(kernel), ctx.param(bias), y], [rows, this.units, features, 0, 0, relu]);
      return y;
    }
    ctx.builder.emit('matmul', [x, ctx.param(kernel), y], [rows, this.units, features, 0, 0]);
    if (bias) ctx.builder.emit('biasAdd', [y, ctx.param(bias), y], [rows, this.units]);
    return emitActivation(ctx, this.activation, y);
  }

  backward(ctx: BackwardContext): void {
    const [kernel, bias] = this.params;
    const features = kernel.shape[0];
    const x = ctx.inputs[0];
    const rows = x.length / features;
    const dPre = bias ? emitActivationBackwardWithBias(ctx, this.activation, bias, this.units) : emitActivationBackward(ctx, this.activation);
    // dW = x^T dPre
    const dw = ctx.paramGradTarget(kernel);
    ctx.builder.emit('matmul', [x, dPre, dw], [features, this.units, rows, 1, 0]);
    ctx.paramGradDone(kernel, dw);
    if (ctx.needsInputGrad(0)) {
      // dx = dPre W^T
      const dx = ctx.newBuffer(ctx.inputShapes[0]);
      ctx.builder.emit('matmul', [dPre, ctx.param(kernel), dx], [rows, features, this.units, 0, 1]);
      ctx.addInputGrad(0, dx);
    }
  }
}
