/**
 * The SARIF 2.1.0 (OASIS) log every rampart report writes (`scan -o sarif`, `lint -o sarif`): one
 * run whose tool driver is rampart at `version` with the report's `rules`, then the run's own
 * members (`results`, and any `originalUriBaseIds` or `properties`) in the order given, so the
 * bytes stay stable. What a rule or a result holds is each report's own business.
 */
export function sarifLog(
  version: string,
  rules: readonly unknown[],
  run: { results: readonly unknown[] } & Record<string, unknown>,
): Record<string, unknown> {
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [{ tool: { driver: { name: 'rampart', version, rules } }, ...run }],
  };
}
