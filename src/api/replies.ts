import type { FastifyReply } from 'fastify';
import { gson } from './gson.js';

export function sendJson(reply: FastifyReply, value: unknown) {
  return reply.type('application/json').send(gson(value));
}

export function sendText(reply: FastifyReply, text: string) {
  return reply.type('text/plain; charset=utf-8').send(text);
}

/** 200 with an empty body (spec §1.3: no 201/204). */
export function sendEmpty(reply: FastifyReply) {
  return reply.code(200).type('text/plain; charset=utf-8').send('');
}
