/**
 * Summarises a V8 `.cpuprofile` (written by `node --cpu-prof`): self time per function,
 * the top N, with each function's share of all samples. Idle and GC appear as V8 names
 * them ("(idle)", "(garbage collector)", "(program)").
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  function: string;
  location: string;
  selfMs: number;
  selfPercent: number;
  /** Share of the samples that were not idle. */
  busyPercent: number;
}

export function summariseProfile(path: string, root: string, top = 15): HotSpot[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMicros = new Map<string, { function: string; location: string; micros: number }>();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, index) => {
    const micros = profile.timeDeltas[index] ?? 0;
    total += micros;
    const frame = byId.get(id)?.callFrame;
    if (!frame) return;
    if (frame.functionName === '(idle)') idle += micros;
    const url = frame.url.replace(/^file:\/\//, '');
    const location = url ? `${relative(root, url)}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName}@${location}`;
    const entry = selfMicros.get(key) ?? { function: frame.functionName || '(anonymous)', location, micros: 0 };
    entry.micros += micros;
    selfMicros.set(key, entry);
  });
  const busy = Math.max(1, total - idle);
  return [...selfMicros.values()]
    .sort((a, b) => b.micros - a.micros)
    .slice(0, top)
    .map((entry) => ({
      function: entry.function,
      location: entry.location,
      selfMs: entry.micros / 1000,
      selfPercent: (entry.micros / Math.max(1, total)) * 100,
      busyPercent: entry.function === '(idle)' ? NaN : (entry.micros / busy) * 100,
    }));
}

interface HeapProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapProfileNode[];
}

export interface AllocationSite {
  function: string;
  location: string;
  /** Sampled bytes allocated by the function itself (V8's estimate from the samples). */
  bytes: number;
  percent: number;
}

/**
 * Summarises a V8 sampling heap profile (`.heapprofile`, from HeapProfiler.stopSampling):
 * bytes allocated per function, the top N. Sampled with the collected objects included
 * (bench/lib/firmware-entry.ts), so it says what allocates, not only what stays.
 */
export function summariseHeapProfile(path: string, root: string, top = 15): AllocationSite[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { head: HeapProfileNode };
  const sites = new Map<string, AllocationSite>();
  let total = 0;
  const pending: HeapProfileNode[] = [profile.head];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    pending.push(...node.children);
    if (node.selfSize === 0) continue;
    total += node.selfSize;
    const url = node.callFrame.url.replace(/^file:\/\//, '');
    const location = url ? `${relative(root, url)}:${node.callFrame.lineNumber + 1}` : '';
    const key = `${node.callFrame.functionName}@${location}`;
    const site = sites.get(key) ?? { function: node.callFrame.functionName || '(anonymous)', location, bytes: 0, percent: 0 };
    site.bytes += node.selfSize;
    sites.set(key, site);
  }
  return [...sites.values()]
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, top)
    .map((site) => ({ ...site, percent: (site.bytes / Math.max(1, total)) * 100 }));
}
