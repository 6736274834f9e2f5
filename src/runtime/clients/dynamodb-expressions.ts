/**
 * The DynamoDB expressions the DocumentClient wrapper (dynamodb-document.ts) evaluates itself, on
 * a document read through the runtime: an UpdateCommand becomes a read-modify-write, so both
 * sides of a migration get the whole updated document in their own shape.
 *
 * Supported (what application code commonly sends):
 * - UpdateExpression: `SET path = value, ...` and `REMOVE path, ...` clauses, in any order;
 *   value: `:v`, a path, `if_not_exists(path, value)`, `list_append(value, value)`, and one
 *   `+` or `-` between two of those (numbers). Paths: names or `#aliases`, dotted, with `[n]`;
 * - ConditionExpression: `attribute_exists(path)` or `attribute_not_exists(path)`;
 * - ProjectionExpression: top-level names or `#aliases`, comma separated.
 * Anything else (ADD, DELETE, comparisons in conditions, functions not listed) is an InputError
 * naming the expression: the wrapper refuses it before anything is written, never guesses.
 */
import { InputError } from '../../core/errors.js';
import type { Doc, Value } from '../../core/values.js';

export interface ExpressionInput {
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
}

type Trail = (string | number)[];

/** The document after `expression` (a new object; `doc` is not changed). */
export function applyUpdate(doc: Doc, expression: string, input: ExpressionInput): Doc {
  const out = structuredClone(doc);
  const t = new Tokens(expression, input, 'UpdateExpression');
  if (t.done()) t.fail('is empty');
  while (!t.done()) {
    const clause = t.word().toUpperCase();
    if (clause === 'SET') {
      do {
        const path = t.path();
        t.expect('=');
        const value = t.value(out);
        setTrail(out, path, value);
      } while (t.eat(','));
    } else if (clause === 'REMOVE') {
      do removeTrail(out, t.path());
      while (t.eat(','));
    } else t.fail(`'${clause}' is not supported (SET and REMOVE are)`);
  }
  return out;
}

/** Does `doc` (null: no document) meet `expression`? Undefined expression: yes. */
export function meetsCondition(
  doc: Doc | null,
  expression: string | undefined,
  input: ExpressionInput,
): boolean {
  if (expression === undefined) return true;
  const t = new Tokens(expression, input, 'ConditionExpression');
  const fn = t.word();
  if (fn !== 'attribute_exists' && fn !== 'attribute_not_exists')
    t.fail(`'${fn}' is not supported (attribute_exists(path) and attribute_not_exists(path) are)`);
  t.expect('(');
  const path = t.path();
  t.expect(')');
  if (!t.done()) t.fail('has more than one condition');
  const exists = doc !== null && getTrail(doc, path) !== undefined;
  return fn === 'attribute_exists' ? exists : !exists;
}

/** `doc` with only the projected top-level attributes. */
export function project(doc: Doc, expression: string | undefined, input: ExpressionInput): Doc {
  if (expression === undefined) return doc;
  const t = new Tokens(expression, input, 'ProjectionExpression');
  const out: Doc = {};
  do {
    const path = t.path();
    if (path.length !== 1) t.fail('projects nested paths; only top-level attributes are supported');
    const name = path[0] as string;
    if (doc[name] !== undefined) out[name] = doc[name];
  } while (t.eat(','));
  if (!t.done()) t.fail('is not a list of attributes');
  return out;
}

const TOKEN = /\s*(#[\w]+|:[\w]+|[A-Za-z_][\w]*|\[\d+\]|[.,=()+-])/y;

class Tokens {
  readonly #tokens: string[] = [];
  #at = 0;

  constructor(
    readonly text: string,
    readonly input: ExpressionInput,
    readonly what: string,
  ) {
    let at = 0;
    for (;;) {
      TOKEN.lastIndex = at;
      const m = TOKEN.exec(text);
      if (m === null) break;
      this.#tokens.push(m[1]!);
      at = TOKEN.lastIndex;
    }
    if (text.slice(at).trim() !== '') this.fail(`cannot be read at '${text.slice(at).trim()}'`);
  }

  fail(why: string): never {
    throw new InputError(`${this.what} '${this.text}' ${why}`, { field: this.what });
  }

  done(): boolean {
    return this.#at >= this.#tokens.length;
  }

  peek(): string | undefined {
    return this.#tokens[this.#at];
  }

  eat(token: string): boolean {
    if (this.peek() !== token) return false;
    this.#at++;
    return true;
  }

  expect(token: string): void {
    if (!this.eat(token)) this.fail(`expected '${token}' at '${this.peek() ?? 'the end'}'`);
  }

  word(): string {
    const w = this.#tokens[this.#at++];
    if (w === undefined || !/^[A-Za-z_]/.test(w))
      this.fail(`expected a word at '${w ?? 'the end'}'`);
    return w;
  }

  name(): string {
    const w = this.#tokens[this.#at++];
    if (w === undefined) this.fail('ends where a name was expected');
    if (w.startsWith('#')) {
      const real = this.input.ExpressionAttributeNames?.[w];
      if (real === undefined)
        this.fail(`uses ${w}, which ExpressionAttributeNames does not define`);
      return real;
    }
    if (!/^[A-Za-z_]/.test(w)) this.fail(`expected a name at '${w}'`);
    return w;
  }

  path(): Trail {
    const out: Trail = [this.name()];
    for (;;) {
      if (this.eat('.')) out.push(this.name());
      else if (this.peek()?.startsWith('['))
        out.push(Number(this.#tokens[this.#at++]!.slice(1, -1)));
      else return out;
    }
  }

  /** operand [(+|-) operand] */
  value(doc: Doc): Value {
    const a = this.operand(doc);
    const op = this.peek();
    if (op !== '+' && op !== '-') return a;
    this.#at++;
    const b = this.operand(doc);
    if (typeof a !== 'number' || typeof b !== 'number') this.fail(`'${op}' needs two numbers`);
    return op === '+' ? a + b : a - b;
  }

  operand(doc: Doc): Value {
    const w = this.peek();
    if (w?.startsWith(':')) {
      this.#at++;
      const v = this.input.ExpressionAttributeValues?.[w];
      if (v === undefined) this.fail(`uses ${w}, which ExpressionAttributeValues does not define`);
      return v as Value;
    }
    if (w === 'if_not_exists' || w === 'list_append') {
      this.#at++;
      this.expect('(');
      if (w === 'if_not_exists') {
        const current = getTrail(doc, this.path());
        this.expect(',');
        const fallback = this.operand(doc);
        this.expect(')');
        return current ?? fallback;
      }
      const a = this.operand(doc);
      this.expect(',');
      const b = this.operand(doc);
      this.expect(')');
      if (!Array.isArray(a) || !Array.isArray(b)) this.fail('list_append needs two lists');
      return [...a, ...b];
    }
    const v = getTrail(doc, this.path());
    if (v === undefined) this.fail(`reads a path the document does not have`);
    return v;
  }
}

function getTrail(doc: Doc, trail: Trail): Value | undefined {
  let v: unknown = doc;
  for (const step of trail) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[step];
  }
  return v as Value | undefined;
}

function parentOf(doc: Doc, trail: Trail): Record<string | number, unknown> | undefined {
  const parent = getTrail(doc, trail.slice(0, -1));
  return parent !== null && typeof parent === 'object'
    ? (parent as Record<string | number, unknown>)
    : undefined;
}

function setTrail(doc: Doc, trail: Trail, value: Value): void {
  const parent = parentOf(doc, trail);
  if (parent === undefined)
    throw new InputError(`UpdateExpression sets ${trail.join('.')} inside a missing map or list`, {
      field: 'UpdateExpression',
    });
  parent[trail.at(-1)!] = value;
}

function removeTrail(doc: Doc, trail: Trail): void {
  const parent = parentOf(doc, trail);
  const last = trail.at(-1)!;
  if (parent === undefined) return;
  if (Array.isArray(parent) && typeof last === 'number') parent.splice(last, 1);
  else delete parent[last];
}
