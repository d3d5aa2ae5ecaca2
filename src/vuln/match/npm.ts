import { osvMatcher, purlParts } from './language.js';

/** npm: names as written (`@scope/name`), semver ordering (the `semver` package npm itself uses). */
export const npmMatcher = osvMatcher('npm', (pkg) => {
  const { namespace, name } = purlParts(pkg);
  return [pkg.name, namespace ? `${namespace}/${name}` : name];
});
