/**
 * Flat parameters: a model is one `Float32Array` plus a layout naming the tensors inside it.
 * Aggregation, clipping, noise, compression and masking all work on the flat array.
 */
import { FederaError } from './errors.js';

export interface TensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** Index of the tensor's first element in the flat array. */
  readonly offset: number;
  /** Number of elements (product of the shape). */
  readonly size: number;
}

export class ParamLayout {
  readonly tensors: readonly TensorSpec[];
  /** Total number of parameters. */
  readonly size: number;

  private constructor(tensors: TensorSpec[], size: number) {
    this.tensors = tensors;
    this.size = size;
  }

  /** Lay out tensors one after the other, in the given order. */
  static fromShapes(specs: ReadonlyArray<{ name: string; shape: readonly number[] }>): ParamLayout {
    const names = new Set<string>();
    const tensors: TensorSpec[] = [];
    let offset = 0;
    for (const { name, shape } of specs) {
      if (names.has(name)) throw new FederaError('invalid_argument', `ParamLayout: duplicate tensor name "${name}"`);
      names.add(name);
      for (const dim of shape) {
        if (!Number.isInteger(dim) || dim < 0) {
          throw new FederaError('invalid_argument', `ParamLayout: tensor "${name}" has an invalid dimension ${dim} in shape [${shape.join(', ')}]`);
        }
      }
      const size = shape.reduce((a, b) => a * b, 1);
      tensors.push(Object.freeze({ name, shape: Object.freeze([...shape]), offset, size }));
      offset += size;
    }
    return new ParamLayout(tensors, offset);
  }

  static fromJSON(json: unknown): ParamLayout {
    if (!Array.isArray(json)) throw new FederaError('malformed_message', 'ParamLayout.fromJSON: expected an array of {name, shape}');
    return ParamLayout.fromShapes(
      json.map((t, i) => {
        if (typeof t !== 'object' || t === null || typeof t.name !== 'string' || !Array.isArray(t.shape)) {
          throw new FederaError('malformed_message', `ParamLayout.fromJSON: entry ${i} is not {name: string, shape: number[]}`);
        }
        return { name: t.name, shape: t.shape };
      }),
    );
  }

  toJSON(): Array<{ name: string; shape: number[] }> {
    return this.tensors.map((t) => ({ name: t.name, shape: [...t.shape] }));
  }

  tensor(name: string): TensorSpec {
    const t = this.tensors.find((x) => x.name === name);
    if (!t) throw new FederaError('not_found', `ParamLayout: no tensor named "${name}"`);
    return t;
  }

  /** A zero-copy view of one tensor inside a flat array laid out by this layout. */
  view(flat: Float32Array, name: string): Float32Array {
    this.check(flat);
    const t = this.tensor(name);
    return flat.subarray(t.offset, t.offset + t.size);
  }

  equals(other: ParamLayout): boolean {
    if (other.size !== this.size || other.tensors.length !== this.tensors.length) return false;
    return this.tensors.every((t, i) => {
      const o = other.tensors[i];
      return o.name === t.name && o.shape.length === t.shape.length && o.shape.every((d, j) => d === t.shape[j]);
    });
  }

  /** Throws `shape_mismatch` unless `flat` has exactly `size` elements. */
  check(flat: ArrayLike<number>, what = 'parameters'): void {
    if (flat.length !== this.size) {
      throw new FederaError('shape_mismatch', `${what}: expected ${this.size} values, got ${flat.length}`, {
        expected: this.size,
        actual: flat.length,
      });
    }
  }
}

/** A model's parameters: the flat values and their layout. */
export interface Params {
  readonly layout: ParamLayout;
  readonly data: Float32Array;
}

export function makeParams(layout: ParamLayout, data?: Float32Array): Params {
  const values = data ?? new Float32Array(layout.size);
  layout.check(values);
  return { layout, data: values };
}

export function cloneParams(p: Params): Params {
  return { layout: p.layout, data: p.data.slice() };
}
