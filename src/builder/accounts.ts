import { RampartError } from '../errors.js';
import type { GroupSpec, UserSpec } from './spec.js';

export const NONROOT_ID = 65532;

/** The accounts every image has, as distroless ships them. Nothing can log in: the shell is nologin. */
const BUILTIN_USERS: Required<UserSpec>[] = [
  { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/sbin/nologin' },
  { name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent', shell: '/sbin/nologin' },
  { name: 'nonroot', uid: NONROOT_ID, gid: NONROOT_ID, home: '/home/nonroot', shell: '/sbin/nologin' },
];
const BUILTIN_GROUPS: GroupSpec[] = [
  { name: 'root', gid: 0 },
  { name: 'nobody', gid: 65534 },
  { name: 'tty', gid: 5 },
  { name: 'staff', gid: 50 },
  { name: 'nonroot', gid: NONROOT_ID },
];

export type Accounts = {
  users: Required<UserSpec>[];
  groups: Array<Required<GroupSpec>>;
  /** Image config `User`: `uid:gid`. */
  user: string;
  /** Home of the run-as user: the default working directory. */
  home: string;
};

/**
 * Merges the built-in accounts with the spec's and resolves `run-as` (a user name or `uid[:gid]`).
 * A spec user whose gid has no group gets a group of its own name.
 */
export function resolveAccounts(spec: { runAs: string; users: UserSpec[]; groups: GroupSpec[] }): Accounts {
  const users: Required<UserSpec>[] = [...BUILTIN_USERS];
  for (const u of spec.users) {
    const clash = users.find((x) => x.name === u.name || x.uid === u.uid);
    if (clash) {
      throw new RampartError(
        'SPEC_INVALID',
        `accounts.users: '${u.name}' (uid ${u.uid}) clashes with the existing user '${clash.name}' (uid ${clash.uid})`,
      );
    }
    users.push({
      name: u.name,
      uid: u.uid,
      gid: u.gid,
      home: u.home ?? `/home/${u.name}`,
      shell: u.shell ?? '/sbin/nologin',
    });
  }
  const groups: Array<Required<GroupSpec>> = BUILTIN_GROUPS.map((g) => ({ ...g, members: g.members ?? [] }));
  for (const g of spec.groups) {
    const clash = groups.find((x) => x.name === g.name || x.gid === g.gid);
    if (clash) {
      throw new RampartError(
        'SPEC_INVALID',
        `accounts.groups: '${g.name}' (gid ${g.gid}) clashes with the existing group '${clash.name}' (gid ${clash.gid})`,
      );
    }
    groups.push({ name: g.name, gid: g.gid, members: g.members ?? [] });
  }
  for (const u of users) {
    if (!groups.some((g) => g.gid === u.gid)) groups.push({ name: u.name, gid: u.gid, members: [] });
  }

  const numeric = /^(\d+)(?::(\d+))?$/.exec(spec.runAs);
  if (numeric) {
    const uid = Number(numeric[1]);
    const known = users.find((u) => u.uid === uid);
    const gid = numeric[2] !== undefined ? Number(numeric[2]) : (known?.gid ?? uid);
    return { users, groups, user: `${uid}:${gid}`, home: known?.home ?? '/' };
  }
  const runAs = users.find((u) => u.name === spec.runAs);
  if (!runAs) {
    throw new RampartError(
      'SPEC_INVALID',
      `accounts.run-as: unknown user '${spec.runAs}' (known: ${users.map((u) => u.name).join(', ')}, or a numeric uid[:gid])`,
    );
  }
  return { users, groups, user: `${runAs.uid}:${runAs.gid}`, home: runAs.uid === 0 ? '/' : runAs.home };
}

export function passwdFile(accounts: Accounts): string {
  return accounts.users.map((u) => `${u.name}:x:${u.uid}:${u.gid}:${u.name}:${u.home}:${u.shell}\n`).join('');
}

export function groupFile(accounts: Accounts): string {
  return accounts.groups.map((g) => `${g.name}:x:${g.gid}:${g.members.join(',')}\n`).join('');
}

/** Files only: an image has no NIS/LDAP, and glibc's defaults would try them. */
export const NSSWITCH_CONF = `passwd:         files
group:          files
shadow:         files
gshadow:        files

hosts:          files dns
networks:       files

protocols:      db files
services:       db files
ethers:         db files
rpc:            db files
`;
