import { osvMatcher, purlParts } from './language.js';

/**
 * Go: module paths, semver ordering (pseudo-versions are semver pre-releases). The toolchain the
 * binary was built with is catalogued as `stdlib` at its Go version (`go1.22.1`), which Go's
 * advisories file under `stdlib` too.
 */
export const golangMatcher = osvMatcher('golang', (pkg) => {
  const { namespace, name } = purlParts(pkg);
  return [pkg.name, namespace ? `${namespace}/${name}` : name];
});
