import { expect, it } from 'vitest';
import { parseSimpleSigning, parseStatement } from '../../../src/sign/verify.js';
import { duplicateJsonKey } from '../../../src/util/json-duplicates.js';

it('finds a key repeated in one object, at any depth, compared decoded', () => {
  const cases: Array<[string, string | undefined]> = [
    ['{"a":1,"b":2}', undefined],
    ['{"a":1,"a":2}', 'a'],
    ['{"a":{"b":1,"c":{"b":2}},"b":3}', undefined],
    ['{"x":[{"k":1},{"k":2}],"y":{"k":1,"k":1}}', 'k'],
    ['{"a":1,"\\u0061":2}', 'a'],
    ['{"s":"{\\"a\\":1,\\"a\\":2}","t":"\\\\","u":"a\\"b"}', undefined],
    ['{"a\\\\":1,"a\\\\":2}', 'a\\'],
    ['[{"a":1},{"a":1},["a","a"]]', undefined],
    [' { "a" : [ 1 , { "b" : "}" , "c" : "]" } ] , "a" : null } ', 'a'],
    ['"a"', undefined],
    ['{}', undefined],
  ];
  for (const [text, key] of cases) {
    JSON.parse(text); // every case is valid JSON
    expect(duplicateJsonKey(text), text).toBe(key);
  }
});

it('stays silent on what JSON.stringify writes, and finds a key inserted twice into it', () => {
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const chars = ['a', 'b', '"', '\\', '{', '}', '[', ']', ',', ':', 'é', '\u0000'];
  const word = () =>
    Array.from(
      { length: 1 + Math.floor(random() * 4) },
      () => chars[Math.floor(random() * chars.length)],
    ).join('');
  const value = (depth: number): unknown => {
    const r = random();
    if (depth > 3 || r < 0.3) return r < 0.15 ? word() : Math.floor(r * 100);
    if (r < 0.6) return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
    return Object.fromEntries(
      Array.from({ length: Math.floor(random() * 5) }, () => [word(), value(depth + 1)]),
    );
  };
  for (let n = 0; n < 500; n++) {
    const text = JSON.stringify({ root: value(0) });
    expect(duplicateJsonKey(text), text).toBeUndefined();
    const doubled = `${text.slice(0, -1)},"root":0}`;
    expect(duplicateJsonKey(doubled), doubled).toBe('root');
  }
});

it('a simple-signing payload or statement with a repeated key is refused, as containers/image does', () => {
  const image = `sha256:${'1'.repeat(64)}`;
  const payload = `{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:${'0'.repeat(64)}","docker-manifest-digest":"${image}"},"type":"cosign container image signature"},"optional":null}`;
  expect(parseSimpleSigning(Buffer.from(payload))).toBe(
    'the key "docker-manifest-digest" appears twice in one object',
  );
  const single = payload.replace(`"docker-manifest-digest":"sha256:${'0'.repeat(64)}",`, '');
  expect(parseSimpleSigning(Buffer.from(single))).toMatchObject({ digest: image });
  const statement = `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"${'2'.repeat(64)}"}}],"subject":[{"digest":{"sha256":"${'1'.repeat(64)}"}}],"predicateType":"x","predicate":{}}`;
  expect(parseStatement(Buffer.from(statement))).toBe(
    'the key "subject" appears twice in one object of the statement',
  );
});
