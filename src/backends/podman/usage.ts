import type { Usage } from '../../sessions/model.js';

/** One container's figures in the engine's stats (libpod `containers/stats`). */
export interface ContainerStats {
  ContainerID: string;
  /** CPU time used since the container started, in nanoseconds. */
  CPUNano: number;
  MemUsage: number;
}

/**
 * Live CPU and memory of running sessions (issue 17: `cpuCoresInUse`, `ramInUse` were always
 * `<none>`). The engine gives cumulative CPU time; cores are its increase between two samples
 * over the time between them, so the first sample of a container gives its memory only.
 */
export class UsageSampler {
  private readonly previous = new Map<string, { cpuNano: number; at: number }>();
  private readonly current = new Map<string, Usage>();

  /** Take one sample of every container the engine reported; containers not in it are forgotten. */
  record(stats: ContainerStats[], now = Date.now()): void {
    const seen = new Set<string>();
    for (const s of stats) {
      seen.add(s.ContainerID);
      const before = this.previous.get(s.ContainerID);
      const seconds = before ? (now - before.at) / 1000 : 0;
      const cores = before && seconds > 0 && s.CPUNano >= before.cpuNano ? (s.CPUNano - before.cpuNano) / 1e9 / seconds : undefined;
      this.current.set(s.ContainerID, { ramBytes: s.MemUsage, ...(cores !== undefined ? { cores } : {}) });
      this.previous.set(s.ContainerID, { cpuNano: s.CPUNano, at: now });
    }
    for (const id of [...this.previous.keys()]) {
      if (!seen.has(id)) {
        this.previous.delete(id);
        this.current.delete(id);
      }
    }
  }

  of(containerId: string): Usage | undefined {
    return this.current.get(containerId);
  }
}
