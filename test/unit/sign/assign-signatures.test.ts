import { describe, expect, it } from 'vitest';
import { assignSignatures } from '../../../src/sign/policy.js';

// A signature (signing key) counts for at most one policy signer: a maximum matching, so an
// early signer taking a key another needs gives it up when it has another of its own.
describe('assignSignatures', () => {
  it('moves a shared key to the signer that has no other (augmenting path)', () => {
    expect(assignSignatures([['a', 'b'], ['a']])).toEqual(['b', 'a']);
    expect(assignSignatures([['a'], ['a', 'b'], ['b', 'c']])).toEqual(['a', 'b', 'c']);
  });

  it('one key for two signers meets one of them; an empty key (no certificate) meets none', () => {
    expect(assignSignatures([['a'], ['a']])).toEqual(['a', undefined]);
    expect(assignSignatures([[''], []])).toEqual([undefined, undefined]);
  });
});
