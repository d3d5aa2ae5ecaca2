/**
 * rampart's schemas are built with zod's `zod/mini` API, imported from here: the same checks and
 * messages as classic zod (the same core), built as functions (`optional(string())`) instead of
 * methods, which makes them much cheaper to load and to build. Every command that reads an image
 * builds the OCI schemas at start: classic zod took ~30 ms of it (its bundle ~19 ms, the schemas of
 * oci/types.ts ~14 ms), zod/mini ~10 ms (bench/sign.bench.ts). Classic zod registers its English
 * messages itself; zod/mini leaves the choice to its user, so it is made here, once, before any
 * schema parses: messages name the problem ("Too small: expected string to have >=1 characters"),
 * not a bare "Invalid input".
 *
 * The names are listed (not `export *`): scripts/bundle-zod.mjs bundles only what is imported here.
 */
import { config, locales } from 'zod/mini';

config(locales.en());

export {
  _default,
  array,
  boolean,
  compile,
  enum,
  extend,
  gte,
  int,
  iso,
  literal,
  looseObject,
  lte,
  maxLength,
  minLength,
  nonnegative,
  nullish,
  number,
  object,
  optional,
  pick,
  pipe,
  record,
  refine,
  regex,
  startsWith,
  strictObject,
  string,
  transform,
  trim,
  union,
  url,
} from 'zod/mini';
