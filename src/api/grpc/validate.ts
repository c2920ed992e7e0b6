import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { ValidationError } from '../../common/errors.ts';
import { formatValidationError } from '../http/errorHandler.ts';
import { loadApiSchemas } from '../http/schemas.ts';

/**
 * Checks gRPC requests against the REST API's JSON Schemas (schemas/api/*.json, the single source
 * of request shapes): a request is first rewritten into the REST body it stands for, so both APIs
 * accept and refuse the same values with the same `VALIDATION_ERROR` message naming the field.
 * Options as the HTTP app's ajv: no coercion, unknown fields refused, first error only.
 */
export class RequestValidator {
  readonly #ajv: Ajv;
  readonly #compiled = new Map<string, ValidateFunction>();

  constructor() {
    this.#ajv = new Ajv({ coerceTypes: false, removeAdditional: false, allErrors: false, strict: false });
    // ajv-formats is CommonJS; under ESM its function may sit on `.default`
    const plugin = addFormats as unknown as { default?: (ajv: Ajv) => Ajv } & ((ajv: Ajv) => Ajv);
    (plugin.default ?? plugin)(this.#ajv);
    for (const schema of loadApiSchemas()) this.#ajv.addSchema(schema);
  }

  /** Throws ValidationError('VALIDATION_ERROR') unless `value` matches schema `$id`. */
  check(id: string, value: unknown, context = 'request'): void {
    let validate = this.#compiled.get(id);
    if (validate === undefined) {
      const found = this.#ajv.getSchema(id);
      if (found === undefined) throw new Error(`no API schema '${id}'`);
      validate = found;
      this.#compiled.set(id, validate);
    }
    if (!validate(value)) {
      throw new ValidationError('VALIDATION_ERROR', formatValidationError(context, validate.errors ?? []));
    }
  }
}
