/**
 * Turns a graph of layers into plans. One place holds the whole of autodiff: the forward
 * pass in topological order, then each node's gradient calls in reverse order, with
 * fan-out handled by summing contributions.
 */
import { PlanBuilder, BufferRef, BuiltPlan } from '../plan/builder';
import { BackwardContext, ForwardContext, InputLayer, Layer, Param, Shape, SymbolicTensor } from '../layers';
import type { HostFill } from '../layers/layer';
import type { Loss } from '../losses';
import type { Optimizer } from '../optim';
import { shapeSize } from '../tensor';
import { ArgumentError } from '../errors';

export class Graph {
  /** Every node reachable from the outputs, inputs first, in an order where inputs precede users. */
  readonly nodes: SymbolicTensor[];
  readonly layers: Layer[];
  readonly params: Param[];

  constructor(
    readonly input: SymbolicTensor,
    readonly output: SymbolicTensor,
  ) {
    if (!(input instanceof SymbolicTensor) || !(input.layer instanceof InputLayer)) {
      throw new ArgumentError('model: inputs must be a tensor made by input({ shape })');
    }
    if (!(output instanceof SymbolicTensor)) throw new ArgumentError('model: outputs must be a tensor made by a layer apply()');
    const order: SymbolicTensor[] = [];
    const state = new Map<number, 'visiting' | 'done'>();
    const visit = (t: SymbolicTensor): void => {
      const s = state.get(t.id);
      if (s === 'done') return;
      if (s === 'visiting') throw new ArgumentError(`model: the graph has a cycle at ${t.layer.name}`);
      state.set(t.id, 'visiting');
      t.inputs.forEach(visit);
      state.set(t.id, 'done');
      order.push(t);
    };
    visit(output);
    const inputs = order.filter((t) => t.layer instanceof InputLayer);
    if (inputs.length !== 1 || inputs[0] !== input) {
      throw new ArgumentError(`model: the outputs must depend on exactly the given input, found inputs ${inputs.map((t) => t.layer.name).join(', ') || 'none'}`);
    }
    this.nodes = order;
    this.layers = [...new Set(order.map((t) => t.layer))];
    this.params = [...new Set(this.layers.flatMap((l) => l.params))];
  }
}

/** Where each parameter, its gradient and its optimizer state live in the state arena. */
export interface StateLayout {
  readonly length: number;
  paramOffset(p: Param): number;
  gradOffset(p: Param): number;
  slotOffsets(p: Param): number[];
  readonly hyperOffset: number;
  readonly hyperLength: number;
}

export function layoutState(params: readonly Param[], optimizer?: Optimizer): StateLayout {
  const offsets = new Map<Param, { value: number; grad: number; slots: number[] }>();
  let cursor = 0;
  const take = (size: number): number => {
    const offset = cursor;
    cursor += size;
    return offset;
  };
  for (const p of params) offsets.set(p, { value: take(p.size), grad: -1, slots: [] });
  if (optimizer) {
    const trainable = params.filter((p) => p.trainable);
    for (const p of trainable) offsets.get(p)!.grad = take(p.size);
    for (let s = 0; s < optimizer.slotsPerParam; s++) {
      for (const p of trainable) offsets.get(p)!.slots.push(take(p.size));
    }
  }
  const hyperOffset = cursor;
  const hyperLength = optimizer?.hyperLength ?? 0;
  cursor += hyperLength;
  return {
    length: Math.max(cursor, 1),
    paramOffset: (p) => offsets.get(p)!.value,
    gradOffset: (p) => offsets.get(p)!.grad,
    slotOffsets: (p) => offsets.get(p)!.slots,
    hyperOffset,
    hyperLength,
  };
}

export type PlanMode = 'train' | 'eval' | 'infer';

/** A work buffer the model fills before every run (dropout masks). */
export interface HostBuffer {
  ref: BufferRef;
  fill: HostFill;
}

export interface GraphPlan extends BuiltPlan {
  mode: PlanMode;
  hostBuffers: HostBuffer[];
  batch: number;
  input: BufferRef;
  output: BufferRef;
  labels?: BufferRef;
  loss?: BufferRef;
  /** End of the forward calls, of the loss calls, and of the whole plan. */
  forwardEnd: number;
  lossEnd: number;
}

export function buildGraphPlan(
  graph: Graph,
  layout: StateLayout,
  mode: PlanMode,
  batch: number,
  lossFn?: Loss,
  optimizer?: Optimizer,
  clipNorm?: number,
): GraphPlan {
  const builder = new PlanBuilder();
  const training = mode === 'train';
  const paramRefs = new Map<Param, BufferRef>();
  const paramRef = (p: Param): BufferRef => {
    let ref = paramRefs.get(p);
    if (!ref) paramRefs.set(p, (ref = builder.stateBuffer(layout.paramOffset(p), p.size)));
    return ref;
  };
  const newBuffer = (shape: Shape): BufferRef => builder.workBuffer(batch * shapeSize(shape));

  const values = new Map<number, BufferRef>();
  const input = builder.workBuffer(batch * shapeSize(graph.input.shape), true);
  values.set(graph.input.id, input);
  const contexts = new Map<number, ForwardContext>();
  const savedByNode = new Map<number, Map<string, BufferRef>>();
  const hostBuffers: HostBuffer[] = [];
  for (const node of graph.nodes) {
    if (node.layer instanceof InputLayer) continue;
    const saved = new Map<string, BufferRef>();
    savedByNode.set(node.id, saved);
    const ctx: ForwardContext = {
      builder,
      batch,
      training,
      inputShapes: node.inputs.map((t) => t.shape),
      outputShape: node.shape,
      inputs: node.inputs.map((t) => values.get(t.id)!),
      param: paramRef,
      newBuffer,
      save: (key, buffer) => void saved.set(key, buffer),
      hostBuffer: (shape, fill) => {
        // Filled before the run, read by forward and backward: alive for the whole plan.
        const ref = builder.workBuffer(batch * shapeSize(shape), true);
        hostBuffers.push({ ref, fill });
        return ref;
      },
    };
    contexts.set(node.id, ctx);
    values.set(node.id, node.layer.forward(ctx));
  }
  const output = values.get(graph.output.id)!;
  builder.pin(output);
  const forwardEnd = builder.size;

  let labels: BufferRef | undefined;
  let loss: BufferRef | undefined;
  let lossEnd = forwardEnd;
  if (mode !== 'infer') {
    if (!lossFn) throw new ArgumentError('a loss is needed to build a training or evaluation plan');
    lossFn.check(graph.output.shape);
    labels = builder.workBuffer(lossFn.targets === 'labels' ? batch : output.length, true);
    loss = builder.workBuffer(1, true);
    const dOutput = builder.workBuffer(output.length);
    lossFn.emit(builder, output, labels, loss, dOutput, batch, graph.output.shape);
    lossEnd = builder.size;
    if (training) {
      if (!optimizer) throw new ArgumentError('an optimizer is needed to build a training plan');
      emitBackward(graph, builder, layout, values, contexts, savedByNode, dOutput, paramRef, newBuffer);
      const trainable = graph.params.filter((p) => p.trainable);
      if (clipNorm !== undefined) emitClipByGlobalNorm(builder, layout, trainable, clipNorm);
      const hyper = builder.stateBuffer(layout.hyperOffset, layout.hyperLength);
      for (const p of trainable) {
        const grad = builder.stateBuffer(layout.gradOffset(p), p.size);
        const slots = layout.slotOffsets(p).map((offset) => builder.stateBuffer(offset, p.size));
        optimizer.emitUpdate(builder, paramRef(p), grad, slots, hyper);
      }
    }
  }
  const built = builder.finish();
  return { ...built, mode, batch, input, output, labels, loss, forwardEnd, lossEnd, hostBuffers };
}

function emitBackward(
  graph: Graph,
  builder: PlanBuilder,
  layout: StateLayout,
  values: Map<number, BufferRef>,
  contexts: Map<number, ForwardContext>,
  savedByNode: Map<number, Map<string, BufferRef>>,
  dOutput: BufferRef,
  paramRef: (p: Param) => BufferRef,
  newBuffer: (shape: Shape) => BufferRef,
): void {
  const grads = new Map<number, BufferRef>([[graph.output.id, dOutput]]);
  const gradContributed = new Set<Param>();
  // The first contribution is adopted as is (it may be another node's gradient too, so it is
  // never written in place); later ones are summed into a fresh buffer.
  const addGrad = (node: SymbolicTensor, grad: BufferRef): void => {
    const existing = grads.get(node.id);
    if (!existing) {
      grads.set(node.id, grad);
      return;
    }
    const sum = builder.workBuffer(existing.length);
    builder.emit('add', [existing, grad, sum], [existing.length]);
    grads.set(node.id, sum);
  };
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i];
    if (node.layer instanceof InputLayer) continue;
    const dOut = grads.get(node.id);
    if (!dOut) continue; // the loss does not depend on this node
    const ctx: BackwardContext = {
      ...contexts.get(node.id)!,
      output: values.get(node.id)!,
      dOutput: dOut,
      saved: (key) => {
        const buffer = savedByNode.get(node.id)?.get(key);
        if (!buffer) throw new ArgumentError(`${node.layer.name}: its forward pass saved no buffer '${key}'`);
        return buffer;
      },
      needsInputGrad: (index) => !(node.inputs[index].layer instanceof InputLayer),
      addInputGrad: (index, grad) => addGrad(node.inputs[index], grad),
      // A parameter used by several nodes (a shared layer) sums its contributions.
      paramGradTarget: (p) => (gradContributed.has(p) ? builder.workBuffer(p.size) : builder.stateBuffer(layout.gradOffset(p), p.size)),
      paramGradDone: (p, written) => {
        if (!gradContributed.has(p)) {
          gradContributed.add(p);
          return;
        }
        const grad = builder.stateBuffer(layout.gradOffset(p), p.size);
        builder.emit('add', [grad, written, grad], [p.size]);
      },
      param: paramRef,
      newBuffer,
    };
    node.layer.backward(ctx);
  }
}

/**
 * Scales every gradient by min(1, maxNorm / global norm): one squared norm per parameter
 * into a small buffer, then each gradient reads the whole buffer (summed in a fixed order).
 */
function emitClipByGlobalNorm(builder: PlanBuilder, layout: StateLayout, params: readonly Param[], maxNorm: number): void {
  if (params.length === 0) return;
  const norms = builder.workBuffer(params.length);
  const slots = params.map(() => builder.workBuffer(1));
  params.forEach((p, i) => builder.emit('sumSquares', [builder.stateBuffer(layout.gradOffset(p), p.size), slots[i]], [p.size]));
  // Gather the per-parameter norms into one buffer in parameter order.
  params.forEach((_, i) => builder.emit('scatterColumns', [slots[i], norms], [1, 1, params.length, i]));
  for (const p of params) {
    builder.emit('clipByGlobalNorm', [norms, builder.stateBuffer(layout.gradOffset(p), p.size)], [params.length, p.size], [maxNorm]);
  }
}
