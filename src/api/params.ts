import type { FastifyRequest } from 'fastify';

/**
 * skaha's parameters (spec §1.2): query string and urlencoded body merged (query first), names
 * case-insensitive, repeated names accumulating, first value wins for single-valued names.
 * The body is merged whatever the Content-Type says, as a compatible server should.
 */
export class Params {
  private readonly values = new Map<string, string[]>();

  constructor(sources: URLSearchParams[]) {
    for (const source of sources) {
      for (const [name, value] of source) {
        const key = name.toLowerCase();
        const list = this.values.get(key);
        if (list) list.push(value);
        else this.values.set(key, [value]);
      }
    }
  }

  static from(req: FastifyRequest): Params {
    const url = req.raw.url ?? '';
    const q = url.indexOf('?');
    const sources = [new URLSearchParams(q >= 0 ? url.slice(q + 1) : '')];
    if (typeof req.body === 'string' && req.body.length > 0) sources.push(new URLSearchParams(req.body));
    return new Params(sources);
  }

  first(name: string): string | undefined {
    return this.values.get(name.toLowerCase())?.[0];
  }

  all(name: string): string[] {
    return this.values.get(name.toLowerCase()) ?? [];
  }
}
