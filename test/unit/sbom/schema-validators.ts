import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as (ajv: object) => void;
const schemaDir = fileURLToPath(new URL('../../fixtures/schemas/', import.meta.url));
const load = (name: string) =>
  JSON.parse(readFileSync(`${schemaDir}${name}`, 'utf8')) as Record<string, unknown>;

export type Validate = (doc: unknown) => string[];

/** Validates against the official SPDX 2.3 JSON schema (draft 2019-09). */
export function spdxValidator(): Validate {
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  addFormats(ajv);
  return wrap(ajv.compile(load('spdx-2.3.schema.json')));
}

/** Validates against CycloneDX 1.6 with its sibling schemas registered under the SNAPSHOT names it $refs. */
export function cycloneDxValidator(): Validate {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  // ajv-formats has no IRI formats; an IRI reference is whatever WHATWG URL parsing accepts
  // relative to a base (it allows non-ASCII, unlike uri-reference).
  ajv.addFormat('iri-reference', (value: string) => URL.canParse(value, 'http://base.invalid/'));
  // Likewise idn-email: ajv-formats' email is ASCII-only; an internationalised address is local@domain.
  ajv.addFormat('idn-email', /^[^\s@]+@[^\s@]+\.[^\s@]+$/u);
  const base = 'http://cyclonedx.org/schema/';
  for (const name of ['spdx.SNAPSHOT.schema.json', 'jsf-0.82.SNAPSHOT.schema.json']) {
    ajv.addSchema({ ...load(`cyclonedx/${name}`), $id: `${base}${name}` });
  }
  return wrap(ajv.compile(load('cyclonedx/bom-1.6.SNAPSHOT.schema.json')));
}

function wrap(validate: ((doc: unknown) => boolean) & { errors?: unknown }): Validate {
  return (doc) => {
    if (validate(doc)) return [];
    return ((validate.errors as Array<{ instancePath: string; message?: string }>) ?? []).map(
      (e) => `${e.instancePath} ${e.message ?? ''}`,
    );
  };
}
