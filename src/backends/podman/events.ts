import type { SessionEvent } from '../backend.js';
import type { SessionRecord } from '../../sessions/model.js';

/** One object of the engine's /events stream (Docker Engine API shape, as Podman sends it). */
export interface EngineEvent {
  Type?: string;
  Action?: string;
  status?: string;
  id?: string;
  time?: number;
  timeNano?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/**
 * The engine's container events, in the words Kubernetes uses for a pod (spec §3.6), so that
 * `view=events` reads the same on both backends.
 */
export function eventsFromEngine(events: EngineEvent[], record: SessionRecord): SessionEvent[] {
  const out: SessionEvent[] = [];
  const container = record.appId ? `${record.id}-${record.appId}` : record.id;
  for (const e of events) {
    const action = (e.Action ?? e.status ?? '').split(':')[0];
    const when = new Date(e.timeNano ? e.timeNano / 1e6 : (e.time ?? 0) * 1000);
    const exit = e.Actor?.Attributes?.containerExitCode ?? e.Actor?.Attributes?.exitCode;
    let event: Omit<SessionEvent, 'firstTime' | 'lastTime'> | undefined;
    switch (action) {
      case 'create':
        event = { type: 'Normal', reason: 'Created', message: `Created container ${container} from image ${record.image}` };
        break;
      case 'start':
        event = { type: 'Normal', reason: 'Started', message: `Started container ${container}` };
        break;
      case 'kill':
        event = { type: 'Normal', reason: 'Killing', message: `Stopping container ${container}` };
        break;
      case 'oom':
        event = { type: 'Warning', reason: 'OOMKilled', message: `Container ${container} ran out of memory` };
        break;
      case 'died':
      case 'die':
        event =
          exit === undefined || exit === '0'
            ? { type: 'Normal', reason: 'Completed', message: `Container ${container} exited with code 0` }
            : { type: 'Warning', reason: 'Failed', message: `Container ${container} exited with code ${exit}` };
        break;
      default:
        break;
    }
    if (event) out.push({ ...event, firstTime: when, lastTime: when });
  }
  return out;
}
