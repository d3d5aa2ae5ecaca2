import { osvMatcher, purlParts } from './language.js';

/** Maven: `groupId:artifactId` (OSV's form, from the purl), Maven's ComparableVersion ordering. */
export const mavenMatcher = osvMatcher('maven', (pkg) => {
  const { namespace, name } = purlParts(pkg);
  return namespace ? [`${namespace}:${name}`] : [pkg.name];
});
