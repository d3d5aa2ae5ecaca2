/**
 * The spec reference, derived from the zod schema in spec.ts: every key with whether it is
 * required, its type and its default. docs/spec.md documents these rows (plus a description and
 * an example each) and test/unit/builder/spec-reference.test.ts checks that the two agree, so the
 * documentation cannot drift from what the parser accepts.
 */
import { specSchema } from './spec.js';

export type SpecKeyRow = { key: string; required: boolean; type: string; default?: string };

type Def = Record<string, unknown> & { type: string };

function defOf(schema: unknown): Def {
  return (schema as { _zod: { def: Def } })._zod.def;
}

/** Strips optional/default wrappers, noting whether the key may be left out and its default. */
function unwrap(schema: unknown): { inner: unknown; optional: boolean; default?: unknown } {
  let current = schema;
  let optional = false;
  let fallback: { value: unknown } | undefined;
  for (;;) {
    const def = defOf(current);
    if (def.type === 'optional') optional = true;
    else if (def.type === 'default') {
      optional = true;
      fallback ??= { value: def.defaultValue };
    } else if (def.type !== 'nullable' && def.type !== 'pipe') break;
    current = def.type === 'pipe' ? def.in : def.innerType;
  }
  return { inner: current, optional, ...(fallback ? { default: fallback.value } : {}) };
}

/** A short, stable name for a schema's type: `string`, `list of string`, `one of a, b`, `map`. */
function typeName(schema: unknown): string {
  const def = defOf(unwrap(schema).inner);
  switch (def.type) {
    case 'string':
    case 'boolean':
      return def.type;
    case 'number':
      return (def.checks as unknown[] | undefined)?.some(
        (c) => defOf(c).format === 'safeint' || defOf(c).check === 'number_format',
      )
        ? 'integer'
        : 'number';
    case 'enum':
      return `one of ${Object.values(def.entries as Record<string, string>).join(', ')}`;
    case 'array':
      return `list of ${typeName(def.element)}`;
    case 'record':
      return `map of ${typeName(def.valueType)}`;
    case 'object':
      return 'map';
    case 'union':
      return (def.options as unknown[]).map(typeName).join(' or ');
    default:
      return def.type;
  }
}

function collect(schema: unknown, prefix: string, rows: SpecKeyRow[]): void {
  const def = defOf(schema);
  if (def.type !== 'object') return;
  for (const [name, child] of Object.entries(def.shape as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${name}` : name;
    const { inner, optional, default: fallback } = unwrap(child);
    rows.push({
      key,
      required: !optional,
      type: typeName(child),
      ...(fallback !== undefined ? { default: JSON.stringify(fallback) } : {}),
    });
    const innerDef = defOf(inner);
    if (innerDef.type === 'object') collect(inner, key, rows);
    else if (innerDef.type === 'array') collect(unwrap(innerDef.element).inner, `${key}[]`, rows);
    else if (innerDef.type === 'record') collect(unwrap(innerDef.valueType).inner, `${key}.<name>`, rows);
  }
}

/** Every key of an image spec, in schema order; nested keys as `contents.packages`, `paths[].type`. */
export function specKeyReference(): SpecKeyRow[] {
  const rows: SpecKeyRow[] = [];
  collect(specSchema, '', rows);
  return rows;
}
