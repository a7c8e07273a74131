import { fixedResourcesOf } from '../../../src/sessions/model';
/**
 * The launch and token forms' rules, the API's own (src/sessions/ids.ts, params.ts,
 * src/api/auth/routes.ts), checked before sending so the form can say what is wrong at once.
 * The server checks again; its message is shown when it refuses.
 */

export const MAX_NAME_LENGTH = 63;
const NAME = /^[A-Za-z0-9-]+$/;

/** Why a session name is refused, or undefined when it is fine (skaha's words, spec §3.5). */
export function nameProblem(name: string): string | undefined {
  const trimmed = name.trim();
  if (!trimmed) return 'Give the session a name.';
  if (!NAME.test(trimmed)) return "A name can only contain letters, digits and '-'.";
  if (trimmed.length > MAX_NAME_LENGTH) return `A name must be at most ${MAX_NAME_LENGTH} characters.`;
  return undefined;
}

/** A name suggested from an image: its last path segment without the tag, made valid. */
export function suggestName(image: string): string {
  const last = image.split('/').pop() ?? '';
  const repo = last.split(/[:@]/)[0] ?? '';
  const name = repo
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_NAME_LENGTH - 4);
  return name || 'session';
}

interface EnvParse {
  entries: string[];
  /** One message per refused line, with its 1-based line number. */
  problems: string[];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Environment lines for a headless job, `NAME=value` each, blank lines ignored. skaha keeps an
 * entry only when it has exactly one '=' and both sides (src/sessions/params.ts): anything it
 * would silently drop is a problem here instead.
 */
export function parseEnvLines(text: string): EnvParse {
  const entries: string[] = [];
  const problems: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const parts = line.split('=');
    const where = `Line ${i + 1}`;
    if (parts.length < 2) problems.push(`${where}: write NAME=value.`);
    else if (parts.length > 2) problems.push(`${where}: a value cannot contain '='.`);
    else if (!ENV_NAME.test(parts[0]!)) problems.push(`${where}: '${parts[0]}' is not a variable name (letters, digits, '_'; not starting with a digit).`);
    else if (!parts[1]) problems.push(`${where}: ${parts[0]} has no value.`);
    else entries.push(line);
  });
  return { entries, problems };
}

/** skaha splits `args` on single spaces, so an argument can never contain one (docs/cli.md). */
export function argsNote(args: string): string | undefined {
  if (/\s{2,}/.test(args.trim())) return 'Arguments are split on single spaces: repeated spaces make empty arguments.';
  if (/["']/.test(args)) return 'Quotes are passed as they are: an argument cannot contain a space. Put a longer command in a script in your home.';
  return undefined;
}

export const MAX_TOKEN_DAYS = 3650;

export function tokenNameProblem(name: string): string | undefined {
  const trimmed = name.trim();
  if (!trimmed) return 'Give the token a name, to recognise it later.';
  if (trimmed.length > 64) return 'A token name has at most 64 characters.';
  return undefined;
}

export function expiryDaysProblem(days: string): string | undefined {
  const n = Number(days);
  if (!days.trim() || !Number.isInteger(n) || n < 1 || n > MAX_TOKEN_DAYS) return `Enter a whole number of days from 1 to ${MAX_TOKEN_DAYS}.`;
  return undefined;
}

export interface LaunchInput {
  type: string;
  image: string;
  name: string;
  cores: string;
  ram: string;
  gpus: string;
  cmd: string;
  args: string;
  env: string;
}

export type LaunchErrors = Partial<Record<keyof LaunchInput, string>>;

/** Every field's problem, for the form to show beside each field. */
export function launchErrors(input: LaunchInput): LaunchErrors {
  const errors: LaunchErrors = {};
  if (!input.type) errors.type = 'Choose a session type.';
  if (!input.image) errors.image = 'Choose an image.';
  const name = nameProblem(input.name);
  if (name) errors.name = name;
  if (input.type === 'headless') {
    const env = parseEnvLines(input.env);
    if (env.problems.length) errors.env = env.problems.join(' ');
  }
  return errors;
}

/** The POST /session form for valid input (names as skaha reads them; env repeated). */
export function launchFields(input: LaunchInput): Array<[string, string]> {
  const fields: Array<[string, string]> = [
    ['name', input.name.trim()],
    ['image', input.image],
    ['type', input.type],
  ];
  // Desktop and Firefly run with fixed resources: asking for others would only mislead.
  const fixed = fixedResourcesOf(input.type) !== undefined;
  if (input.cores && !fixed) fields.push(['cores', input.cores]);
  if (input.ram && !fixed) fields.push(['ram', input.ram]);
  if (input.gpus && input.gpus !== '0') fields.push(['gpus', input.gpus]);
  if (input.type === 'headless') {
    if (input.cmd.trim()) fields.push(['cmd', input.cmd.trim()]);
    if (input.args.trim()) fields.push(['args', input.args.trim()]);
    for (const entry of parseEnvLines(input.env).entries) fields.push(['env', entry]);
  }
  return fields;
}
