/**
 * The nftables rule that keeps the kernel's TCP off the device's ports in IP mode
 * (`--link ip:IFNAME`). The kernel holds the interface's address, sees every TCP segment
 * the device's stack receives, finds no socket of its own and answers with an RST
 * (RFC 9293 §3.10.7.1), which would kill every connection. The rule drops TCP RSTs
 * leaving IFNAME unless they carry RST_GUARD_MARK, the SO_MARK of piwire's raw sockets:
 *
 *   table inet piwire { chain rst-guard { type filter hook output priority filter;
 *     oifname "IFNAME" tcp flags & rst == rst meta mark != 0x70770001 drop comment "piwire rst guard IFNAME" } }
 *
 * `deploy/interfaces/piwire-rst-guard add|remove|check IFNAME` manages it (the installer
 * with `--layout wifi`, the tests inside their own namespaces); the firmware only checks
 * it (`checkRstGuard`) and refuses to start without it. The kernel's own connections on
 * IFNAME lose their RSTs too: their peers time out instead of being reset.
 */
import { execFileSync } from 'node:child_process';

/** SO_MARK of piwire's raw sockets ("pw" and 1). */
export const RST_GUARD_MARK = 0x7077_0001;
export const RST_GUARD_TABLE = 'piwire';
export const RST_GUARD_CHAIN = 'rst-guard';

export function rstGuardComment(interfaceName: string): string {
  return `piwire rst guard ${interfaceName}`;
}

/** Undefined when the rule is in place; else why not, in words for the operator. */
export function checkRstGuard(interfaceName: string): string | undefined {
  const fix = `add it with: deploy/interfaces/piwire-rst-guard add ${interfaceName} (deploy/install.sh --layout wifi does)`;
  let listing: string;
  try {
    listing = execFileSync('nft', ['list', 'chain', 'inet', RST_GUARD_TABLE, RST_GUARD_CHAIN], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 10_000,
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `nft (the nftables command) is not installed, so the rule cannot be checked; install nftables and ${fix}`;
    return `the nftables chain inet ${RST_GUARD_TABLE} ${RST_GUARD_CHAIN} is missing; ${fix}`;
  }
  const rule = listing.split('\n').find((line) => line.includes(`comment "${rstGuardComment(interfaceName)}"`));
  const mark = `0x${RST_GUARD_MARK.toString(16).padStart(8, '0')}`;
  if (rule === undefined || !rule.includes(`oifname "${interfaceName}"`) || !rule.includes(mark) || !rule.includes('drop')) {
    return `no nftables rule drops the kernel's TCP RSTs on ${interfaceName}; ${fix}`;
  }
  return undefined;
}
