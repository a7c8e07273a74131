/**
 * The floor for any proxy written on Node.js, for bench/proxy.ts: the same HTTP stack as skaha's
 * SessionProxy (Node's http server, undici's Agent to the upstream, the same pool settings) and
 * nothing else: no authentication, no route table, no header rewriting, every request to one
 * upstream. The gap between it and ours is what our own work per request costs; the gap between
 * it and nginx is what Node costs.
 *
 *   node --import tsx bench/proxy/node-floor.ts <upstreamPort>
 *
 * Prints one JSON line, `{"port": N}`, once listening; stops on SIGTERM or SIGINT, or when its
 * parent's stdin closes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, type Dispatcher } from 'undici';

const origin = `http://127.0.0.1:${Number(process.argv[2])}`;
const upstream = new Agent({ connections: 256, keepAliveTimeout: 4_000, bodyTimeout: 0 });

const server = http.createServer((req, res) => {
  const headers = { ...req.headers };
  delete headers.connection;
  upstream.dispatch(
    { origin, method: req.method as Dispatcher.HttpMethod, path: req.url ?? '/', headers: headers as Record<string, string>, body: null },
    {
      // undici tells the new handler style by this method.
      onRequestStart: () => {},
      onResponseStart: (_c, status, h, message) => res.writeHead(status, message, h as Record<string, string>),
      onResponseData: (c, chunk) => {
        if (!res.write(chunk)) {
          c.pause();
          res.once('drain', () => c.resume());
        }
      },
      onResponseEnd: () => res.end(),
      onResponseError: () => res.destroy(),
    },
  );
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })));
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
