// Minimal typings for the two SPDX helpers (neither ships its own types).
declare module 'spdx-correct' {
  function correct(identifier: string, options?: { upgrade?: boolean }): string | null;
  export default correct;
}
declare module 'spdx-expression-parse' {
  function parse(expression: string): unknown;
  export default parse;
}
