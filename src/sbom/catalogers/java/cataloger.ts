import { createHash } from 'node:crypto';
import { type CatalogContext, type Cataloger, type RawPackage, rawPackageKey } from '../../cataloger.js';
import type { DeclaredLicense } from '../../model.js';
import { type ByteReader, bufferReader, type FileNode } from '../../source/file-source.js';
import { licenseFromBundleLicense, licenseFromPom } from './licenses.js';
import { parsePomLicenses } from './pom-xml.js';
import { listZipEntries, readZipEntry, type ZipEntry } from './zip.js';

const ARCHIVE = /\.(?:jar|war|ear|jpi|hpi)$/i;
const MIB = 1024 * 1024;
const MAX_ARCHIVE_BYTES = 256 * MIB;
const MAX_METADATA_BYTES = 1024 * 1024;
const MAX_NESTING = 3;
const POM_PROPERTIES = /^META-INF\/maven\/.+\/pom\.properties$/;

/**
 * Java archives: Maven coordinates from pom.properties, else MANIFEST.MF; nested jars too.
 * Licences from the pom.xml beside each pom.properties, else the manifest's `Bundle-License`.
 */
export const javaCataloger: Cataloger = {
  name: 'java',
  matches: (node) => isJavaArchive(node) && node.size < MAX_ARCHIVE_BYTES,
  skipReason: (node) =>
    isJavaArchive(node) && node.size >= MAX_ARCHIVE_BYTES
      ? `Java archive of ${node.size} bytes (${Math.round(node.size / MIB)} MiB) is over the ${MAX_ARCHIVE_BYTES / MIB} MiB limit; not read`
      : undefined,
  start() {
    const packages: RawPackage[] = [];
    /** The archive's own digest goes on the packages it evidences directly; nested jars keep none. */
    const collect = async (path: string, found: RawPackage[], sha256: () => Promise<string>) => {
      const direct = found.filter((pkg) => pkg.locations[0] === path);
      if (direct.length > 0) {
        const digest = await sha256();
        for (const pkg of direct) pkg.sha256 = digest;
      }
      packages.push(...found);
    };
    return {
      async accept({ path, content }, ctx) {
        const found = await packagesFromArchive(path, bufferReader(content), content.length, ctx, 0);
        await collect(path, found, async () => createHash('sha256').update(content).digest('hex'));
      },
      // On a directory only the central directory and the metadata entries are read.
      async inspect(path, file, ctx) {
        const found = await packagesFromArchive(path, (o, n) => file.read(o, n), file.size, ctx, 0);
        await collect(path, found, () => file.sha256());
      },
      finish: () => packages,
    };
  },
};

function isJavaArchive(node: FileNode): boolean {
  return (node.kind === 'file' || node.kind === 'hardlink') && ARCHIVE.test(node.path);
}

export async function packagesFromArchive(
  location: string,
  read: ByteReader,
  size: number,
  ctx: CatalogContext,
  depth: number,
): Promise<RawPackage[]> {
  const entries = await listZipEntries(read, size);
  const entryText = async (entry: (typeof entries)[number]) =>
    (await readZipEntry(read, size, entry, MAX_METADATA_BYTES)).toString('utf8');
  const out: RawPackage[] = [];
  const pomPropertiesEntries = entries.filter((e) => POM_PROPERTIES.test(e.name));
  for (const entry of pomPropertiesEntries) {
    const props = parseProperties(await entryText(entry));
    const groupId = props.get('groupId');
    const artifactId = props.get('artifactId');
    const version = props.get('version');
    if (groupId && artifactId && version) {
      // The pom.xml beside pom.properties is the same artifact's; only its <licenses> are read.
      const pomPath = entry.name.replace(/pom\.properties$/, 'pom.xml');
      const pomEntry = entries.find((e) => e.name === pomPath);
      const license = pomEntry ? await pomLicense(location, read, size, pomEntry, ctx) : undefined;
      out.push({
        type: 'maven',
        namespace: groupId,
        name: artifactId,
        version,
        ...(license ? { license } : {}),
        locations: [location],
      });
    }
  }
  const manifestEntry = entries.find((e) => e.name === 'META-INF/MANIFEST.MF');
  const readManifest = async () =>
    manifestEntry ? parseManifest(await entryText(manifestEntry)) : new Map<string, string>();
  const only = out.length === 1 && pomPropertiesEntries.length === 1 ? out[0] : undefined;
  if (only && !only.license && manifestEntry) {
    // With one artifact in the archive, the manifest describes that artifact too.
    const license = licenseFromBundleLicense((await readManifest()).get('Bundle-License') ?? '');
    if (license) only.license = license;
  }
  if (out.length === 0) {
    const manifest = await readManifest();
    const fromName = /([^/]+?)-(\d[^/]*?)\.[a-z]+$/i.exec(location);
    const name = manifest.get('Implementation-Title') ?? manifest.get('Bundle-Name') ?? fromName?.[1];
    const version = manifest.get('Implementation-Version') ?? manifest.get('Bundle-Version') ?? fromName?.[2];
    if (name && version) {
      // Without pom.properties there is no groupId; syft guesses one the same way.
      const group =
        manifest
          .get('Bundle-SymbolicName')
          ?.split(';')[0]
          ?.replace(/\.[^.]+$/, '') ?? name;
      const license = licenseFromBundleLicense(manifest.get('Bundle-License') ?? '');
      out.push({
        type: 'maven',
        namespace: group,
        name,
        version,
        ...(license ? { license } : {}),
        locations: [location],
      });
    } else ctx.warn(location, 'Java archive without pom.properties or a versioned manifest; skipped');
  }
  if (depth > 0) for (const pkg of out) pkg.nested = true;
  if (depth < MAX_NESTING) {
    const own = [...out];
    for (const entry of entries) {
      if (!/\.(?:jar|war|ear)$/i.test(entry.name)) continue;
      const nestedLocation = `${location}!/${entry.name}`;
      try {
        const nested = await readZipEntry(read, size, entry, MAX_ARCHIVE_BYTES);
        const found = await packagesFromArchive(
          nestedLocation,
          bufferReader(nested),
          nested.length,
          ctx,
          depth + 1,
        );
        // A jar inside a fat jar is its own component (its copy may differ from one elsewhere),
        // with an edge from the archive that holds it.
        const inner = found.filter((pkg) => pkg.locations[0] === nestedLocation).map(rawPackageKey);
        for (const pkg of own) pkg.contains = [...(pkg.contains ?? []), ...inner];
        out.push(...found);
      } catch (error) {
        ctx.warn(nestedLocation, `nested archive: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  return out;
}

/** A damaged or oversized pom.xml costs its licences, with a warning; the package is still reported. */
async function pomLicense(
  location: string,
  read: ByteReader,
  size: number,
  entry: ZipEntry,
  ctx: CatalogContext,
): Promise<DeclaredLicense | undefined> {
  try {
    return licenseFromPom(parsePomLicenses(await readZipEntry(read, size, entry, MAX_METADATA_BYTES)));
  } catch (error) {
    ctx.warn(
      `${location}!/${entry.name}`,
      `pom.xml not read, licences left out: ${error instanceof Error ? error.message : String(error)}`,
    );
    return undefined;
  }
}

function parseProperties(text: string): Map<string, string> {
  const props = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*([^#!\s=:]+)\s*[=:]\s*(.*?)\s*$/.exec(line);
    if (match) props.set(match[1]!, match[2]!);
  }
  return props;
}

/** MANIFEST.MF: `Key: value` with 72-byte lines continued by a leading space. */
function parseManifest(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line === '') {
      if (fields.size > 0) break; // only the main section
      continue;
    }
    if (line.startsWith(' ') && last) {
      fields.set(last, `${fields.get(last)}${line.slice(1)}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon > 0) {
      last = line.slice(0, colon);
      fields.set(last, line.slice(colon + 1).trim());
    }
  }
  return fields;
}
