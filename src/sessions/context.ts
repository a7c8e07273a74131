import fs from 'node:fs';
import os from 'node:os';

/** The resource context of spec §3.11 (k8s-resources.json). */
export interface ResourceContext {
  cores: { default: number; defaultRequest: number; defaultLimit: number; defaultHeadless: number; options: number[] };
  memoryGB: { default: number; defaultRequest: number; defaultLimit: number; defaultHeadless: number; options: number[] };
  gpus: { options: number[] };
  maxInteractiveSessions: string;
}

/** skaha's chart defaults (spec §3.11, §10.3). */
export const CHART_DEFAULT_CONTEXT: ResourceContext = {
  cores: { default: 2, defaultRequest: 1, defaultLimit: 8, defaultHeadless: 1, options: range(1, 16) },
  memoryGB: {
    default: 8,
    defaultRequest: 4,
    defaultLimit: 32,
    defaultHeadless: 4,
    options: [1, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 26, 28, 30, 32, 36, 40, 44, 48, 56, 64, 80, 92, 112, 128, 140, 170, 192],
  },
  gpus: { options: range(1, 28) },
  maxInteractiveSessions: '5',
};

export interface MachineCapacity {
  cores: number;
  memoryGiB: number;
  gpus: number;
}

export function thisMachine(): MachineCapacity {
  return { cores: os.cpus().length, memoryGiB: os.totalmem() / 2 ** 30, gpus: 0 };
}

/**
 * The context offered to users: the file (or chart defaults) with every option this machine
 * cannot give removed, and defaults clamped into what is left, so a user is never offered a
 * size that can never start. One core and 1 GiB always stay offered.
 */
export function buildContext(base: ResourceContext, machine: MachineCapacity, maxUserSessions: number): ResourceContext {
  const clamp = (value: number, options: number[]) => (options.includes(value) ? value : (options.filter((o) => o <= value).pop() ?? options[0] ?? 1));
  const cores = keepAtMost(base.cores.options, machine.cores);
  const memory = keepAtMost(base.memoryGB.options, Math.floor(machine.memoryGiB));
  return {
    cores: {
      default: clamp(base.cores.default, cores),
      defaultRequest: clamp(base.cores.defaultRequest, cores),
      defaultLimit: clamp(base.cores.defaultLimit, cores),
      defaultHeadless: clamp(base.cores.defaultHeadless, cores),
      options: cores,
    },
    memoryGB: {
      default: clamp(base.memoryGB.default, memory),
      defaultRequest: clamp(base.memoryGB.defaultRequest, memory),
      defaultLimit: clamp(base.memoryGB.defaultLimit, memory),
      defaultHeadless: clamp(base.memoryGB.defaultHeadless, memory),
      options: memory,
    },
    gpus: { options: base.gpus.options.filter((g) => g <= machine.gpus) },
    maxInteractiveSessions: String(maxUserSessions),
  };
}

export function loadContextFile(file: string): ResourceContext {
  if (!file) return structuredClone(CHART_DEFAULT_CONTEXT);
  let parsed: Partial<ResourceContext>;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ResourceContext>;
  } catch (err) {
    throw new Error(`cannot read resources file ${file}: ${(err as Error).message}`);
  }
  const merged = {
    cores: { ...CHART_DEFAULT_CONTEXT.cores, ...parsed.cores },
    memoryGB: { ...CHART_DEFAULT_CONTEXT.memoryGB, ...parsed.memoryGB },
    gpus: { ...CHART_DEFAULT_CONTEXT.gpus, ...parsed.gpus },
    maxInteractiveSessions: String(parsed.maxInteractiveSessions ?? CHART_DEFAULT_CONTEXT.maxInteractiveSessions),
  };
  for (const [key, list] of [
    ['cores', merged.cores.options],
    ['memoryGB', merged.memoryGB.options],
    ['gpus', merged.gpus.options],
  ] as const) {
    if (!Array.isArray(list) || list.some((v) => !Number.isInteger(v) || v < 1)) {
      throw new Error(`resources file ${file}: ${key}.options must be a list of positive integers`);
    }
  }
  return merged;
}

function keepAtMost(options: number[], max: number): number[] {
  const kept = options.filter((o) => o <= max);
  return kept.length > 0 ? kept : [1];
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
