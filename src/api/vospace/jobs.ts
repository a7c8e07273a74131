import crypto from 'node:crypto';
import { notFound } from '../../common/errors.js';
import type { Phase, TransferRequest } from './documents.js';

export interface TransferJob {
  id: string;
  owner: string;
  phase: Phase;
  created: Date;
  ended?: Date;
  /** The UWS error text: a VOSpace fault word (`NodeNotFound`, ...) or a sentence. */
  error?: string;
  request: TransferRequest;
  /** What the transfer negotiated: the endpoints (synchronous) or nothing yet (a move to run). */
  endpoints: { protocol: string; endpoint: string; securityMethod?: string }[];
}

/** How long a finished negotiation or move can still be read back by its client. */
const KEEP_MS = 60 * 60_000;
const MAX_JOBS = 10_000;

/**
 * Transfer jobs (UWS) of the VOSpace binding. A negotiation needs no work on the server, and a
 * move is one rename: jobs only carry answers from one request to the client's next few, so
 * they live in memory for an hour (a restart mid-negotiation makes the client ask again).
 */
export class TransferJobs {
  private readonly jobs = new Map<string, TransferJob>();

  create(owner: string, request: TransferRequest, fields: Partial<Pick<TransferJob, 'phase' | 'error' | 'endpoints'>> = {}): TransferJob {
    this.sweep();
    const job: TransferJob = { id: crypto.randomBytes(12).toString('hex'), owner, phase: 'PENDING', created: new Date(), request, endpoints: [], ...fields };
    if (job.phase === 'COMPLETED' || job.phase === 'ERROR') job.ended = job.created;
    this.jobs.set(job.id, job);
    return job;
  }

  /** The caller's job; another user's is not found. */
  get(owner: string, id: string): TransferJob {
    const job = this.jobs.get(id);
    if (!job || job.owner !== owner) throw notFound(`transfer job ${id} not found`);
    return job;
  }

  finish(job: TransferJob, error?: string): void {
    job.phase = error ? 'ERROR' : 'COMPLETED';
    if (error) job.error = error;
    job.ended = new Date();
  }

  private sweep(): void {
    const oldest = Date.now() - KEEP_MS;
    for (const [id, job] of this.jobs) if (job.created.getTime() < oldest || this.jobs.size > MAX_JOBS) this.jobs.delete(id);
  }
}
