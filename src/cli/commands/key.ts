import type { Command } from 'commander';
import { RampartError } from '../../errors.js';
import { writeKeyPairFiles } from '../../sign/key-files.js';
import { generateKeyPair } from '../../sign/keys.js';
import { keyPassword } from '../key-password.js';

interface GenerateFlags {
  outputPrefix: string;
  allowInsecureKey?: boolean;
}

export function registerKey(program: Command): void {
  const key = program.command('key').description("signing keys in cosign's formats");
  key
    .command('generate')
    .description(
      "write an ECDSA P-256 key pair: PREFIX.key (encrypted, cosign's ENCRYPTED SIGSTORE PRIVATE KEY) and PREFIX.pub (SPKI PEM)",
    )
    .option('--output-prefix <prefix>', 'file name prefix of the pair', 'rampart')
    .option(
      '--allow-insecure-key',
      'accept an empty password (the key is then readable by anyone with the file)',
    )
    .addHelpText(
      'after',
      `
The password comes from RAMPART_PASSWORD, else COSIGN_PASSWORD, else a terminal prompt (asked
twice). Both files are created new (an existing file is not overwritten); the private key is mode 0600.
cosign (sign --key PREFIX.key) and skopeo (--sign-by-sigstore-private-key) read the private key.

Examples:
  $ rampart key generate --output-prefix rampart
  $ RAMPART_PASSWORD=... rampart key generate --output-prefix ci`,
    )
    .action(async (options: GenerateFlags) => {
      const password = await keyPassword('write');
      if (password === '' && !options.allowInsecureKey) {
        throw new RampartError(
          'USAGE',
          'an empty password leaves the private key unprotected; give a password, or pass --allow-insecure-key',
          { details: { option: '--allow-insecure-key' } },
        );
      }
      const pair = await generateKeyPair(password);
      const { privateKeyPath, publicKeyPath } = await writeKeyPairFiles(options.outputPrefix, pair);
      process.stderr.write(
        `Private key written to ${privateKeyPath}\nPublic key written to ${publicKeyPath}\n`,
      );
    });
}
