import type { Command } from 'commander';
import { RampartError } from '../../errors.js';
import { createRegistryClient } from '../../registry/client.js';
import { type CredentialLocation, login, logout, type VerifyCredentials } from '../../registry/login.js';
import { parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import { promptHidden, promptVisible, readSecretFromStdin } from '../prompt.js';
import { addTlsOptions, tlsOptions } from '../registry-options.js';

const WHERE_CREDENTIALS_ARE_READ = `
Where credentials are read from (first answer wins):
  1. --creds USER:PASS, or --username with --password-stdin, on the command that uses the registry
  2. the file named by REGISTRY_AUTH_FILE
  3. $XDG_RUNTIME_DIR/containers/auth.json (podman, skopeo)
  4. $DOCKER_CONFIG/config.json, else ~/.docker/config.json (docker)
  With --authfile FILE, only FILE is read instead of 2-4. In each file: credHelpers[REGISTRY]
  (docker-credential-NAME), else the auths entry (base64 auth, identitytoken, registrytoken;
  keys like HOST, https://HOST/v2/ and https://index.docker.io/v1/ all count), else credsStore.`;

export function registerLogin(program: Command): void {
  const command = program
    .command('login')
    .description('verify credentials for a registry, then store them (docker config format)')
    .argument('<registry>', 'HOST[:PORT] of the registry (docker.io, ghcr.io, 127.0.0.1:5000)')
    .option('-u, --username <user>', 'the user name (prompted for on a terminal when missing)')
    .option(
      '--password-stdin',
      'read the password (or token) from stdin, e.g. from a file or a secret manager',
    )
    .option(
      '-p, --password <password>',
      'refused: a password on the command line is visible to every user (ps, shell history)',
    )
    .option(
      '--authfile <file>',
      'the credential file to write (default: $REGISTRY_AUTH_FILE, else the docker config)',
    )
    .option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE', 'text');
  addTlsOptions(command)
    .addHelpText(
      'after',
      `
The password is prompted for without echo on a terminal; elsewhere (scripts, CI) it must come on
stdin with --password-stdin. -p/--password is refused: unlike docker, which accepts it with a
warning, rampart never takes a secret from the command line.

login first checks the credentials with the registry (GET /v2/), then stores them: through the
credential helper the file names for the registry (credHelpers, else credsStore), otherwise as a
base64 "auth" entry of the file, which is created 0600 in a 0700 folder and rewritten atomically
with every other entry kept.
${WHERE_CREDENTIALS_ARE_READ}

--insecure and --ca-file mean what they mean on copy: a bare --insecure (put it after the
registry) allows plain HTTP or unverified TLS for a loopback registry only; another host must be
named, --insecure=HOST[:PORT], and gets a warning.

Examples:
  $ rampart login ghcr.io -u octocat
  $ printf '%s' "$TOKEN" | rampart login localhost:5000 -u ci --password-stdin --insecure
  $ rampart login --authfile ./auth.json -u ci --password-stdin localhost:5000 --insecure < secret.txt`,
    )
    .action(
      (
        registry: string,
        options: {
          username?: string;
          passwordStdin?: boolean;
          password?: string;
          authfile?: string;
          insecure?: true | string[];
          caFile?: string;
          output: string;
        },
      ) =>
        withInterrupt(async (signal) => {
          const report = parseReportOutput(options.output, ['text', 'json'] as const);
          if (options.password !== undefined)
            throw new RampartError(
              'USAGE',
              '-p/--password is refused: a password on the command line is visible to other users; pipe it with --password-stdin',
              { details: { option: '--password' } },
            );
          const { username, password } = await readCredential(options);
          const verify: VerifyCredentials = (host, credentials) =>
            createRegistryClient(host, {
              credentials,
              env: process.env,
              signal,
              ...tlsOptions(options),
              onEvent: (event) => {
                if (event.kind === 'warning') process.stderr.write(`warning: ${event.message}\n`);
              },
            }).ping();
          const result = await login({
            registry,
            username,
            password,
            verify,
            env: process.env,
            signal,
            ...(options.authfile ? { authFile: options.authfile } : {}),
            onWarning: (message) => process.stderr.write(`warning: ${message}\n`),
          });
          await writeReport(
            report,
            report.format === 'json'
              ? `${JSON.stringify(result)}\n`
              : `Login Succeeded: ${result.registry} (stored in ${describe(result.storedIn)})\n`,
          );
        }),
    );
}

export function registerLogout(program: Command): void {
  program
    .command('logout')
    .description('remove the stored credentials for a registry')
    .argument('<registry>', 'HOST[:PORT] of the registry')
    .option(
      '--authfile <file>',
      'the credential file to change (default: $REGISTRY_AUTH_FILE, else the docker config)',
    )
    .option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE', 'text')
    .addHelpText(
      'after',
      `
logout erases the registry's credential from the credential helper the file names for it, and
removes its auths entries (every key form: HOST, https://HOST/v2/, ...) from the file. Other files
that still answer for the registry are named in a warning.
${WHERE_CREDENTIALS_ARE_READ}

Examples:
  $ rampart logout ghcr.io
  $ rampart logout --authfile ./auth.json localhost:5000`,
    )
    .action((registry: string, options: { authfile?: string; output: string }) =>
      withInterrupt(async (signal) => {
        const report = parseReportOutput(options.output, ['text', 'json'] as const);
        const result = await logout({
          registry,
          env: process.env,
          signal,
          ...(options.authfile ? { authFile: options.authfile } : {}),
          onWarning: (message) => process.stderr.write(`warning: ${message}\n`),
        });
        const text =
          result.removedFrom.length === 0
            ? `Not logged in to ${result.registry}\n`
            : `Removed the credentials for ${result.registry} from ${result.removedFrom.map(describe).join(' and ')}\n`;
        await writeReport(report, report.format === 'json' ? `${JSON.stringify(result)}\n` : text);
      }),
    );
}

/** The user name and password, from the options, stdin or the terminal. */
async function readCredential(options: {
  username?: string;
  passwordStdin?: boolean;
}): Promise<{ username: string; password: string }> {
  if (options.passwordStdin) {
    if (!options.username)
      throw new RampartError('USAGE', '--password-stdin needs --username', {
        details: { option: '--username' },
      });
    return {
      username: options.username,
      password: await readSecretFromStdin(process.stdin, '--password-stdin'),
    };
  }
  if (!process.stdin.isTTY)
    throw new RampartError(
      'USAGE',
      'stdin is not a terminal, so the password cannot be prompted for: pipe it with --username USER --password-stdin',
      { details: { option: '--password-stdin' } },
    );
  const username = options.username ?? (await promptVisible('Username: '));
  return { username, password: await promptHidden('Password: ') };
}

function describe(location: CredentialLocation): string {
  return location.kind === 'file' ? location.path : location.helper;
}
