/** Cutting text that is shown or stored: every secret masked in the whole text first, then cut. */
import { describe, it, expect } from 'vitest';
import { maskSecretFields, maskSecretPrefixAtEnd, redactThenCut, registerSecret } from '../../shared/log/redact';

registerSecret('cut-secret-abcdef123');

describe('redactThenCut', () => {
  it('short text: masked, not cut, no ellipsis', () => {
    expect(redactThenCut('echo cut-secret-abcdef123 back', 200)).toBe('echo *** back');
  });

  it('a secret across the cut: masked whole before the cut, so no piece of it is left', () => {
    const text = `${'x'.repeat(185)}"cut-secret-abcdef123" and more ${'y'.repeat(50)}`;
    const out = redactThenCut(text, 200);
    expect(out).toBe(`${'x'.repeat(185)}"***" and more ${'y'.repeat(200 - 185 - 15)}...`);
    expect(out).not.toMatch(/cut-sec/);
  });

  it('pattern secrets (password=...) across the cut: masked before it', () => {
    const out = redactThenCut(`${'x'.repeat(10)} password=hunter2-long-value ${'z'.repeat(40)}`, 30);
    expect(out).toBe(`${'x'.repeat(10)} password=*** ${'z'.repeat(6)}...`);
  });

  it('a piece of a registered secret left at the end of the cut (4 characters or more): masked too', () => {
    // the text held only the start of the secret (a target quoting it cut short), and the cut lands right after it
    const out = redactThenCut(`${'x'.repeat(20)}cut-secret-ab${'y'.repeat(40)}`, 33);
    expect(out).toBe(`${'x'.repeat(20)}***...`);
  });

  it('the ellipsis can be chosen', () => {
    expect(redactThenCut('abcdefgh', 4, { ellipsis: '…' })).toBe('abcd…');
  });

  it('a long text (1 MiB): its start masked and cut, a secret across the cut included', () => {
    const text = `${'x'.repeat(190)}cut-secret-abcdef123${'y'.repeat(1 << 20)}`;
    expect(redactThenCut(text, 200)).toBe(`${'x'.repeat(190)}***${'y'.repeat(7)}...`);
  });

  it('a long text the masks shrink below the cut at its start: read further, not cut short', () => {
    // the first start read (12,096 characters) ends inside the 605th secret, and masks to 1,828 characters
    const text = `${'cut-secret-abcdef123'.repeat(650)}${'z'.repeat(300)}cut-secret-abcdef123`;
    expect(redactThenCut(text, 2000)).toBe(`${'***'.repeat(650)}${'z'.repeat(50)}...`);
  });

  it('prepare runs before the masks, on what is read', () => {
    const text = `a \n\n  b ${'  '.repeat(3000)}password=hunter2 ${'c'.repeat(50_000)}`;
    const out = redactThenCut(text, 40, { prepare: (t) => t.replace(/\s+/g, ' ') });
    expect(out).toBe(`a b password=*** ${'c'.repeat(23)}...`);
  });
});

describe('maskSecretPrefixAtEnd', () => {
  it.each<[string, string]>([
    ['ends with cut-s', 'ends with ***'],
    ['ends with cut', 'ends with cut'], // 3 characters: too short to say
    ['ends with cut-secret-abcdef123', 'ends with ***'],
    ['cut-secret in the middle, not at the end', 'cut-secret in the middle, not at the end'],
  ])('%s', (text, expected) => {
    expect(maskSecretPrefixAtEnd(text)).toBe(expected);
  });
});

describe('maskSecretFields (a JSON body)', () => {
  it.each<[string, string, string]>([
    [
      'secret-named fields, nested, any value but null or empty: masked, compact',
      '{\n  "a": 1,\n  "credentials": { "key": "k" },\n  "x": { "private_key": "pk", "n": [ { "dbPass": 7 } ] },\n  "token": null,\n  "secret": ""\n}',
      '{"a":1,"credentials":"***","x":{"private_key":"***","n":[{"dbPass":"***"}]},"token":null,"secret":""}',
    ],
    [
      'no secret-named field: as it was',
      '{ "status": "healthy", "passed": 3 }',
      '{ "status": "healthy", "passed": 3 }',
    ],
    ['a name in a value, not a key: as it was', '{ "note": "token" }', '{ "note": "token" }'],
    ['no JSON (a body cut at its limit): as it was', '{ "token": "abc", "pad": "xx', '{ "token": "abc", "pad": "xx'],
    ['not an object or array: as it was', 'token=abc', 'token=abc'],
  ])('%s', (_name, text, expected) => {
    expect(maskSecretFields(text)).toBe(expected);
  });
});
