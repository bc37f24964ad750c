import * as fs from 'node:fs';
import { SchemaError, assertValid } from './index';

/** A config file that cannot be used: the message says which file, where and why. */
export class ConfigError extends Error {
  readonly file: string;
  readonly pointer: string;
  constructor(file: string, pointer: string, message: string) {
    super(`${file}: ${pointer ? pointer + ': ' : ''}${message}`);
    this.name = 'ConfigError';
    this.file = file;
    this.pointer = pointer;
  }
}

/** Read a JSON config file and check it against schema `schema` (defaults filled in). */
export function loadConfig<T>(schema: string, file: string): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, '', `cannot read: ${(e as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, '', `not valid JSON: ${(e as Error).message}`);
  }
  return parseConfig<T>(schema, data, file);
}

/** Check an already parsed config object; errors name `file` (or `what`). */
export function parseConfig<T>(schema: string, data: unknown, file = 'config'): T {
  try {
    return assertValid<T>(schema, data);
  } catch (e) {
    if (e instanceof SchemaError) {
      const more = e.issues.length > 1 ? ` (and ${e.issues.length - 1} more)` : '';
      throw new ConfigError(file, e.pointer || '/', `${e.issues[0]?.message}${more}`);
    }
    throw e;
  }
}
