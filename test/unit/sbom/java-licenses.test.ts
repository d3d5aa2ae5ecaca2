import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogFileSource } from '../../../src/sbom/catalog.js';
import { licenseFromBundleLicense } from '../../../src/sbom/catalogers/java/licenses.js';
import { parsePomLicenses } from '../../../src/sbom/catalogers/java/pom-xml.js';
import { licenseIdFromUrl } from '../../../src/sbom/identity/license.js';
import { directoryFileSource } from '../../../src/sbom/source/dir-source.js';
import type { FileSource } from '../../../src/sbom/source/file-source.js';

// Archives are built with Info-ZIP's `zip`, not by our own code.
let work: string;
let root: string;

function jar(
  name: string,
  files: Record<string, string>,
  into = join(root, 'opt/app/lib'),
  dir = join(work, name),
) {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  mkdirSync(into, { recursive: true });
  execFileSync('zip', ['-q', '-r', join(into, name), '.'], { cwd: dir });
}

const pom = (licenses: string, extra = '') =>
  `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <modelVersion>4.0.0</modelVersion>
  <!-- <licenses><license><name>GPL-3.0-only</name></license></licenses> -->
  <licenses>${licenses}</licenses>
  ${extra}
</project>
`;

const properties = (group: string, artifact: string, version: string) =>
  `groupId=${group}\nartifactId=${artifact}\nversion=${version}\n`;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'rampart-java-licenses-'));
  root = join(work, 'root');
  jar('dual-1.0.jar', {
    'META-INF/MANIFEST.MF': 'Manifest-Version: 1.0\nBundle-License: GPL-3.0-only\n',
    'META-INF/maven/org.example/dual/pom.properties': properties('org.example', 'dual', '1.0'),
    'META-INF/maven/org.example/dual/pom.xml': pom(
      // Apache by its URL only (the name says nothing spdx-correct knows); MIT by its name only.
      `<license><name>ASL</name><url>https://www.apache.org/licenses/LICENSE-2.0.txt</url></license>
       <license><name>The MIT License</name></license>`,
      // A plugin's configuration may hold <licenses> too; it is not the project's licence.
      '<build><plugins><plugin><configuration><licenses><license><name>BSD-2-Clause</name></license></licenses></configuration></plugin></plugins></build>',
    ),
  });
  jar('osgi-2.3.jar', {
    'META-INF/MANIFEST.MF':
      'Manifest-Version: 1.0\nBundle-SymbolicName: org.example.osgi\nBundle-Name: osgi\nBundle-Version: 2.3\n' +
      'Bundle-License: "EPL-2.0";link="https://www.eclipse.org/legal/epl-2.0/", https://www.apache.org/li\n' +
      ' censes/LICENSE-2.0.txt\n',
  });
  jar('broken-0.1.jar', {
    'META-INF/maven/org.example/broken/pom.properties': properties('org.example', 'broken', '0.1'),
    // <license> is never closed.
    'META-INF/maven/org.example/broken/pom.xml': pom('<license><name>MIT</name>'),
  });
  // A nested jar reads its own pom.xml; a pom.xml in another artifact's folder is not its.
  jar(
    'inner-3.0.jar',
    {
      'META-INF/maven/org.example/inner/pom.properties': properties('org.example', 'inner', '3.0'),
      'META-INF/maven/org.example/inner/pom.xml': pom(
        '<license><name>Eclipse Public License - v 2.0</name><url>https://www.eclipse.org/legal/epl-2.0/</url></license>',
      ),
      'META-INF/maven/org.example/other/pom.xml': pom('<license><name>MIT</name></license>'),
    },
    join(work, 'war/WEB-INF/lib'),
  );
  jar(
    'shop.war',
    { 'META-INF/maven/org.example/shop/pom.properties': properties('org.example', 'shop', '5.0') },
    join(root, 'opt/app'),
    join(work, 'war'),
  );
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

const licensesOf = (result: Awaited<ReturnType<typeof catalogFileSource>>) =>
  Object.fromEntries(result.packages.map((p) => [p.name, p.license?.expression]));

describe('java licences', () => {
  it('reads pom.xml licences by URL and by name, Bundle-License, and warns about a damaged pom.xml', async () => {
    const result = await catalogFileSource(await directoryFileSource(root, () => {}));
    const licenses = licensesOf(result);
    // The pom.xml wins over the manifest's Bundle-License (GPL-3.0-only) for the archive's own artifact.
    expect(licenses.dual).toBe('Apache-2.0 AND MIT');
    expect(licenses.osgi).toBe('EPL-2.0 AND Apache-2.0');
    // spdx-correct alone reads this name as EPL-1.0; the URL says 2.0.
    expect(licenses.inner).toBe('EPL-2.0');
    expect(licenses.shop).toBeUndefined();
    expect(licenses.broken).toBeUndefined();
    expect(result.packages.map((p) => p.purl)).toContain('pkg:maven/org.example/broken@0.1');
    expect(result.warnings.map((w) => [w.cataloger, w.path])).toEqual([
      ['java', '/opt/app/lib/broken-0.1.jar!/META-INF/maven/org.example/broken/pom.xml'],
    ]);
    expect(result.warnings[0]!.message).toMatch(/<\/licenses> closes <license>/);
  });

  it('finds the same licences when the source can only stream whole files (image layers)', async () => {
    const disk = await directoryFileSource(root, () => {});
    const streamOnly: FileSource = {
      nodes: () => disk.nodes(),
      read: (paths, onError) => disk.read(paths, onError),
    };
    const streamed = await catalogFileSource(streamOnly);
    const inPlace = await catalogFileSource(disk);
    expect(licensesOf(streamed)).toEqual(licensesOf(inPlace));
    expect(streamed.warnings).toEqual(inPlace.warnings);
  });
});

describe('parsePomLicenses', () => {
  it('reads a hostile, deeply nested pom.xml in linear time', () => {
    // 200,000 levels (1.2 MB): a per-tag join of the element path would take minutes here.
    const depth = 200_000;
    const xml = `<project><licenses><license><name>MIT</name></license></licenses>${'<a>'.repeat(depth)}${'</a>'.repeat(depth)}</project>`;
    expect(parsePomLicenses(Buffer.from(xml))).toEqual([{ name: 'MIT' }]);
  });

  it('decodes entities and CDATA, and ignores comments', () => {
    const xml = pom(
      '<license><name>A &amp; B&#x21; <![CDATA[<C>]]></name><url> https://x.test/l?a=1&amp;b=2 </url></license>',
    );
    expect(parsePomLicenses(Buffer.from(xml))).toEqual([
      { name: 'A & B! <C>', url: 'https://x.test/l?a=1&b=2' },
    ]);
  });

  it('refuses a DOCTYPE with an internal subset instead of expanding its entities', () => {
    const xml =
      '<?xml version="1.0"?><!DOCTYPE project [<!ENTITY x SYSTEM "file:///etc/passwd">]><project><licenses><license><name>&x;</name></license></licenses></project>';
    expect(() => parsePomLicenses(Buffer.from(xml))).toThrow(/internal subset/);
  });

  it.each([
    ['', /no root element/],
    ['not xml at all', /outside the root/],
    ['<project><licenses></project>', /closes <licenses>/],
    ['<project><licenses>', /never closed/],
    ['<project><name>x</name', /unterminated/],
  ])('reports %j as malformed', (xml, message) => {
    expect(() => parsePomLicenses(Buffer.from(xml))).toThrow(message);
  });

  it('reads a Latin-1 POM that says so', () => {
    const xml = Buffer.from(
      '<?xml version="1.0" encoding="ISO-8859-1"?><project><licenses><license><name>Licence publique générale</name></license></licenses></project>',
      'latin1',
    );
    expect(parsePomLicenses(xml)).toEqual([{ name: 'Licence publique générale' }]);
  });
});

describe('jars a Debian package installs', () => {
  it("take the package's copyright licence when they declare none, and keep a pom's own", async () => {
    const debRoot = join(work, 'debroot');
    const java = join(debRoot, 'usr/share/java');
    jar(
      'demo-1.0.jar',
      { 'META-INF/maven/org.example/demo/pom.properties': properties('org.example', 'demo', '1.0') },
      java,
      join(work, 'demo'),
    );
    jar(
      'pommed-2.0.jar',
      {
        'META-INF/maven/org.example/pommed/pom.properties': properties('org.example', 'pommed', '2.0'),
        'META-INF/maven/org.example/pommed/pom.xml': pom('<license><name>MIT</name></license>'),
      },
      java,
      join(work, 'pommed'),
    );
    jar(
      'stray-3.0.jar',
      { 'META-INF/maven/org.example/stray/pom.properties': properties('org.example', 'stray', '3.0') },
      join(debRoot, 'opt'),
      join(work, 'stray'),
    );
    const write = (path: string, text: string) => {
      mkdirSync(join(debRoot, path, '..'), { recursive: true });
      writeFileSync(join(debRoot, path), text);
    };
    write(
      'var/lib/dpkg/status',
      'Package: libdemo-java\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0-1\nMaintainer: Jane Doe <jane@example.org>\n\n',
    );
    write(
      'var/lib/dpkg/info/libdemo-java.md5sums',
      '0123456789abcdef0123456789abcdef  usr/share/java/demo-1.0.jar\n0123456789abcdef0123456789abcdef  usr/share/java/pommed-2.0.jar\n',
    );
    write(
      'usr/share/doc/libdemo-java/copyright',
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: 2020 Jane Doe\nLicense: Apache-2.0 or LGPL-2.1+\n',
    );
    const result = await catalogFileSource(await directoryFileSource(debRoot, () => {}));
    const licenseOf = (name: string) => result.packages.find((p) => p.name === name)?.license?.expression;
    expect(licenseOf('libdemo-java')).toBe('Apache-2.0 OR LGPL-2.1-or-later');
    expect(licenseOf('demo')).toBe('Apache-2.0 OR LGPL-2.1-or-later');
    expect(licenseOf('pommed')).toBe('MIT');
    expect(licenseOf('stray')).toBeUndefined();
  });
});

describe('Bundle-License and licence URLs', () => {
  it.each([
    ['Apache-2.0', 'Apache-2.0'],
    ['EPL-2.0 OR Apache-2.0', 'EPL-2.0 OR Apache-2.0'],
    ['http://www.apache.org/licenses/LICENSE-2.0.txt', 'Apache-2.0'],
    ['Apache License, Version 2.0', 'Apache-2.0'],
    ['MIT;link="https://opensource.org/licenses/MIT", BSD-3-Clause', 'MIT AND BSD-3-Clause'],
    [
      '"Eclipse Distribution License";link="http://www.eclipse.org/org/documents/edl-v10.php"',
      'BSD-3-Clause',
    ],
    ['<<EXTERNAL>>', undefined],
    ['https://licenses.example.test/ours', 'LicenseRef-https-licenses.example.test-ours'],
  ])('%s → %j', (value, expression) => {
    expect(licenseFromBundleLicense(value)?.expression).toEqual(expression);
  });

  it.each([
    ['https://www.apache.org/licenses/LICENSE-2.0', 'Apache-2.0'],
    ['http://opensource.org/licenses/mit-license.php', 'MIT'],
    ['https://opensource.org/license/mit/', 'MIT'],
    ['https://spdx.org/licenses/BSD-3-Clause.html', 'BSD-3-Clause'],
    ['https://openjdk.org/legal/gplv2+ce.html', 'GPL-2.0-only WITH Classpath-exception-2.0'],
    // Neither says "only" or "or later", so no id is guessed.
    ['https://www.gnu.org/licenses/old-licenses/gpl-2.0.html', undefined],
    ['https://opensource.org/licenses/GPL-2.0', undefined],
  ])('%s → %s', (url, id) => {
    expect(licenseIdFromUrl(url)).toBe(id);
  });
});
