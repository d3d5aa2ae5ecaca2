/** A package's supplier as SPDX writes it: `Person: Name (mail)` or `Organization: Name (mail)`. */
export interface SupplierActor {
  kind: 'Person' | 'Organization';
  name: string;
  email?: string;
}

/**
 * Words in a name that make it a group, not a person: Debian's "… Maintainers", "… Team",
 * "… Group", "… Developers", "… Packagers", and company suffixes.
 */
const GROUP_NAME =
  /\b(?:team|maintainers|group|developers|packagers|project|committee|foundation|community|inc|corp|corporation|ltd|llc|gmbh)\b/i;

/**
 * Splits `Name <mail>` (Debian's Maintainer, npm's and PyPI's author) and decides who it is. The rule:
 * an organisation when the address is a mailing list or team address — a domain with a `lists` or
 * `*-lists` label (`lists.debian.org`, `lists.alioth.debian.org`, `alioth-lists.debian.net`), a
 * `team+…` local part (`team+python@tracker.debian.org`), or a Debian role host (any subdomain of
 * debian.org: `packages@qa.debian.org`, `ncurses@packages.debian.org`; people have `@debian.org`) —
 * or when the name says it is a group (GROUP_NAME). Everyone else is a person.
 */
export function supplierActor(supplier: string): SupplierActor {
  const match = /^(.*?)\s*<([^>]*)>\s*$/.exec(supplier);
  const name = (match ? match[1]! : supplier).trim();
  const email = match?.[2]?.trim();
  return { kind: isOrganisation(name, email) ? 'Organization' : 'Person', name, ...(email ? { email } : {}) };
}

function isOrganisation(name: string, email: string | undefined): boolean {
  if (GROUP_NAME.test(name)) return true;
  if (!email) return false;
  const at = email.lastIndexOf('@');
  const local = email.slice(0, at).toLowerCase();
  const domain = email.slice(at + 1).toLowerCase();
  const labels = domain.split('.');
  return (
    labels.some((l) => l === 'lists' || l.endsWith('-lists')) ||
    local.startsWith('team+') ||
    (domain.endsWith('.debian.org') && domain !== 'debian.org')
  );
}
