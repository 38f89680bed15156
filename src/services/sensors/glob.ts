/**
 * SUB globs (SPEC §4): `*` matches any run of characters (including none and
 * including `.` and `/`), `?` exactly one; every other character matches itself.
 * Patterns use the name alphabet plus `*` and `?`, at most 64 characters, so there
 * is nothing to escape and no regular expression is ever built from peer input.
 *
 * Matching is the classic greedy two-pointer algorithm with one backtrack point
 * (the last `*`): O(pattern × name) worst case, no exponential blow-up on
 * patterns like `*a*a*a*b`.
 */
const GLOB = /^[A-Za-z0-9_./*?-]{1,64}$/;
const STAR = 0x2a;
const QUESTION = 0x3f;

export function isValidGlob(pattern: string): boolean {
  return GLOB.test(pattern);
}

export function globMatches(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (n < name.length) {
    const pc = p < pattern.length ? pattern.charCodeAt(p) : -1;
    if (pc === STAR) {
      starAt = p++;
      resumeAt = n;
    } else if (pc === QUESTION || pc === name.charCodeAt(n)) {
      p++;
      n++;
    } else if (starAt >= 0) {
      // Let the last star swallow one more character and retry from there.
      p = starAt + 1;
      n = ++resumeAt;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern.charCodeAt(p) === STAR) p++;
  return p === pattern.length;
}

/** A compiled set of patterns: a reading matches when any pattern does. */
export class GlobSet {
  private readonly patterns: string[] = [];

  get size(): number {
    return this.patterns.length;
  }

  add(pattern: string): void {
    if (!this.patterns.includes(pattern)) this.patterns.push(pattern);
  }

  clear(): void {
    this.patterns.length = 0;
  }

  matches(name: string): boolean {
    return this.patterns.some((pattern) => globMatches(pattern, name));
  }
}
