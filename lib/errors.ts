/**
 * Every error convkit throws on purpose is a ConvkitError with a stable `code`, so callers
 * can branch on `err.code` instead of parsing messages. Messages name the argument, the
 * expected value and the actual value.
 */
export type ErrorCode = 'E_SHAPE' | 'E_ARG' | 'E_VALUE' | 'E_FORMAT' | 'E_BACKEND' | 'E_STATE' | 'E_ABORT';

export class ConvkitError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A tensor or buffer has the wrong shape or length. */
export class ShapeError extends ConvkitError {
  constructor(message: string) {
    super('E_SHAPE', message);
  }
}

/** An argument has the wrong type or an out-of-range value (a config number, an option). */
export class ArgumentError extends ConvkitError {
  constructor(message: string) {
    super('E_ARG', message);
  }
}

/** Data holds values the math cannot take: NaN, Infinity, a label outside the classes. */
export class ValueError extends ConvkitError {
  constructor(message: string) {
    super('E_VALUE', message);
  }
}

/** A file is not what it claims to be: bad magic, truncated, inconsistent sizes. */
export class FormatError extends ConvkitError {
  constructor(message: string) {
    super('E_FORMAT', message);
  }
}

/** The requested backend cannot run (addon missing, forced native that failed to load). */
export class BackendError extends ConvkitError {
  constructor(message: string) {
    super('E_BACKEND', message);
  }
}

/** The object is not in a state that allows the call (not compiled, disposed, busy). */
export class StateError extends ConvkitError {
  constructor(message: string) {
    super('E_STATE', message);
  }
}

/** The caller's AbortSignal fired. */
export class AbortError extends ConvkitError {
  constructor(message = 'the operation was aborted') {
    super('E_ABORT', message);
  }
}

/**
 * Errors thrown by the native addon carry their code in `err.code`; this turns them into
 * the matching ConvkitError subclass so both backends throw the same types.
 */
export function fromNativeError(err: unknown): unknown {
  // Not `instanceof Error`: the addon creates errors in Node's main realm, which differs
  // from the realm of code run in a vm context (jest, for one).
  if (typeof err !== 'object' || err === null || typeof (err as { message?: unknown }).message !== 'string') return err;
  const code = (err as { code?: string }).code;
  const message = (err as Error).message;
  switch (code) {
    case 'E_SHAPE':
      return new ShapeError(message);
    case 'E_ARG':
      return new ArgumentError(message);
    case 'E_VALUE':
      return new ValueError(message);
    case 'E_FORMAT':
      return new FormatError(message);
    case 'E_STATE':
      return new StateError(message);
    default:
      return err;
  }
}
