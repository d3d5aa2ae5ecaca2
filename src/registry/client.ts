import { RampartError } from '../errors.js';
import type { RegistryClient, RegistryOptions } from './types.js';

/** The distribution client for one registry host (placeholder until the client lands). */
export function createRegistryClient(registry: string, _options: RegistryOptions = {}): RegistryClient {
  throw new RampartError('UNSUPPORTED_TRANSPORT', `the registry client for ${registry} is not written yet`, {
    details: { transport: 'docker' },
  });
}
