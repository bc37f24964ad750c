/**
 * Braid's schemas: every NATS message, HTTP body and config file is a JSON
 * Schema (draft 2020-12) in `schemas/src/<name>.schema.json`. They are compiled
 * once with ajv and checked at both ends; the TypeScript types in
 * `schemas/gen/types.ts` are generated from the same files (`npm run schemas:gen`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { repoRoot } from '../../ops/src/paths';

export const SCHEMA_DIR = path.join(repoRoot(), 'schemas', 'src');
export const ID_PREFIX = 'urn:braid:schema:';

/** One reason a document was refused: the JSON pointer of the bad field and why. */
export interface SchemaIssue {
  pointer: string;
  message: string;
}

export class SchemaError extends Error {
  readonly schema: string;
  readonly issues: SchemaIssue[];
  constructor(schema: string, issues: SchemaIssue[], what?: string) {
    const first = issues[0];
    const where = first ? `${first.pointer || '/'}: ${first.message}` : 'invalid';
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    super(`${what ?? schema}: ${where}${more}`);
    this.name = 'SchemaError';
    this.schema = schema;
    this.issues = issues;
  }
  /** The pointer of the first bad field. */
  get pointer(): string {
    return this.issues[0]?.pointer ?? '';
  }
}

function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** ajv's errors as pointers to the field at fault, with a plain reason. */
export function issuesOf(errors: ErrorObject[] | null | undefined): SchemaIssue[] {
  const out: SchemaIssue[] = [];
  const seen = new Set<string>();
  for (const e of errors ?? []) {
    let pointer = e.instancePath;
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'required') {
      const p = (e.params as { missingProperty: string }).missingProperty;
      pointer = `${pointer}/${escapePointer(p)}`;
      message = 'is required';
    } else if (e.keyword === 'additionalProperties') {
      const p = (e.params as { additionalProperty: string }).additionalProperty;
      pointer = `${pointer}/${escapePointer(p)}`;
      message = 'is not a known field';
    } else if (e.keyword === 'enum') {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      message = `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
    } else if (e.keyword === 'const') {
      message = `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
    }
    const key = `${pointer}\u0000${message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push({ pointer, message });
    }
  }
  return out;
}

let ajv: Ajv2020 | undefined;
const compiled = new Map<string, ValidateFunction>();

function instance(): Ajv2020 {
  if (ajv) return ajv;
  ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: true });
  addFormats(ajv);
  for (const file of listSchemaFiles()) {
    const schema = JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, file), 'utf8')) as {
      $id?: string;
    };
    const name = file.replace(/\.schema\.json$/, '');
    if (schema.$id !== ID_PREFIX + name) {
      throw new Error(`schemas/src/${file}: $id must be "${ID_PREFIX}${name}"`);
    }
    ajv.addSchema(schema);
  }
  return ajv;
}

/** The file names of every schema, sorted. */
export function listSchemaFiles(): string[] {
  return fs
    .readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith('.schema.json'))
    .sort();
}

/** The compiled validator of schema `name` (file `schemas/src/<name>.schema.json`). */
export function validatorOf(name: string): ValidateFunction {
  let v = compiled.get(name);
  if (!v) {
    v = instance().getSchema(ID_PREFIX + name);
    if (!v) throw new Error(`unknown schema "${name}"`);
    compiled.set(name, v);
  }
  return v;
}

/** Check `data` against schema `name` (filling in defaults); the issues, or none. */
export function check(name: string, data: unknown): SchemaIssue[] {
  const v = validatorOf(name);
  return v(data) ? [] : issuesOf(v.errors);
}

/** `data` as a T when it is valid against schema `name`; else a SchemaError. */
export function assertValid<T>(name: string, data: unknown, what?: string): T {
  const issues = check(name, data);
  if (issues.length) throw new SchemaError(name, issues, what);
  return data as T;
}

/** The raw JSON Schema of `name`, for OpenAPI documents and docs. */
export function schemaOf(name: string): Record<string, unknown> {
  const s = instance().getSchema(ID_PREFIX + name)?.schema;
  if (!s || typeof s !== 'object') throw new Error(`unknown schema "${name}"`);
  return s as Record<string, unknown>;
}
