import { Type, type Static } from '@sinclair/typebox';
import { SESSION_TYPES, type SessionJson } from '../../sessions/model.js';

/**
 * Schemas of the session routes, for the OpenAPI document. Parameter names are matched
 * case-insensitively and validated by the session service in skaha's order with skaha's messages
 * (spec §1.2, §3.5), so these describe rather than gate (see server/app.ts).
 */
export const SessionObject = Type.Object({
  id: Type.String({ description: 'Session ID: 8 characters [a-z0-9], first a letter.' }),
  userid: Type.String(),
  runAsUID: Type.String(),
  runAsGID: Type.String(),
  supplementalGroups: Type.Array(Type.Integer()),
  appid: Type.String({ description: 'Desktop-app ID, or "<none>".' }),
  image: Type.String(),
  type: Type.String({ enum: [...SESSION_TYPES] }),
  status: Type.String({
    enum: ['Pending', 'Running', 'Terminating', 'Succeeded', 'Completed', 'Failed'],
    description: 'A session that finished well: `Succeeded` on /skaha/v0, `Completed` on /skaha/v1.',
  }),
  name: Type.String(),
  startTime: Type.String({ description: 'ISO-8601 UTC, second precision; creation time while pending.' }),
  expiryTime: Type.String(),
  connectURL: Type.String({ description: 'URL of the session, or "not-applicable".' }),
  requestedRAM: Type.String({ examples: ['8G'] }),
  requestedCPUCores: Type.String(),
  requestedGPUCores: Type.String(),
  ramInUse: Type.String(),
  gpuRAMInUse: Type.String(),
  cpuCoresInUse: Type.String(),
  gpuUtilization: Type.String(),
});

// The schema (and so the OpenAPI document) and the shared SessionJson type must say the same.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaIsSessionJson: Same<Static<typeof SessionObject>, SessionJson> = true;
void schemaIsSessionJson;

export const ListQuery = Type.Object({
  type: Type.Optional(Type.String({ description: 'Keep sessions of this type (case-insensitive).' })),
  status: Type.Optional(Type.String({ description: 'Keep sessions with this status (case-insensitive; `Completed` and `Succeeded` are the same).' })),
  view: Type.Optional(Type.String({ description: '`all` (every user, public shape), `stats`, `interactive` (v1).' })),
});

export const LaunchQuery = Type.Object({
  name: Type.String({ description: 'Session name: [A-Za-z0-9-]+, stored lower-cased.' }),
  image: Type.String({ description: 'Image reference starting with a configured registry host.' }),
  type: Type.Optional(Type.String({ description: 'notebook, desktop, carta, contributed, firefly or headless (default).' })),
  cores: Type.Optional(Type.String({ description: 'Cores, one of /context cores.options.' })),
  ram: Type.Optional(Type.String({ description: 'RAM in GiB, one of /context memoryGB.options.' })),
  gpus: Type.Optional(Type.String({ description: 'GPUs, one of /context gpus.options.' })),
  cmd: Type.Optional(Type.String({ description: 'Headless: replaces the entrypoint.' })),
  args: Type.Optional(Type.String({ description: 'Headless: arguments, split on single spaces.' })),
  env: Type.Optional(Type.Array(Type.String(), { description: 'Headless: KEY=VALUE, repeatable.' })),
});

export const SessionIdParams = Type.Object({ id: Type.String() });
export const AppParams = Type.Object({ id: Type.String(), appId: Type.String() });
export const GetQuery = Type.Object({
  view: Type.Optional(Type.String({ description: '`logs` (text), `events` (text); anything else: the session object.' })),
});
export const RenewQuery = Type.Object({ action: Type.String({ description: '`renew`' }) });
export const AppLaunchQuery = Type.Object({
  image: Type.String(),
  cores: Type.Optional(Type.String()),
  ram: Type.Optional(Type.String()),
});

/** A response body of another media type than JSON, as OpenAPI states it (skaha answers IDs, logs and errors as text). */
export const bodyOf = (description: string, mediaType = 'text/plain') => ({ description, content: { [mediaType]: { schema: Type.String() } } });

export const PlainId = bodyOf('The new ID followed by a newline.');
export const PlainError = bodyOf('A one-line message.');
export const Empty = bodyOf('Empty body.');

export const errorResponses = {
  400: PlainError,
  401: PlainError,
  403: PlainError,
  404: PlainError,
  409: PlainError,
  429: PlainError,
  503: PlainError,
};
