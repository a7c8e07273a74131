import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { Informer } from '../../../src/backends/kubernetes/informer.js';
import { WATCH_BACKOFF_INITIAL_MS, WATCH_BACKOFF_MAX_MS } from '../../../src/backends/backoff.js';

/**
 * The informer against a scripted API server on loopback: what a real one does when its watch
 * cache has moved on (an ERROR event with code 410) or when it fails (HTTP 500), one step at a
 * time, so the re-list and the backoff can be counted. The happy path and an API server restart
 * are covered against a real kube-apiserver by the backend contract suite.
 */
const pod = (name: string, resourceVersion: string): V1Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'ns', resourceVersion } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Kubernetes informer', () => {
  const servers: http.Server[] = [];
  after(() =>
    servers.forEach((s) => {
      s.closeAllConnections();
      s.close();
    }),
  );

  it('lists again after 410 Gone, backs off 1 s doubling on errors, and resets once a watch is up', async () => {
    const lists = [[pod('a', '5')], [pod('c', '10')]];
    const watchSteps: Array<(res: http.ServerResponse, query: URLSearchParams) => void> = [
      // 1: an object arrives, then the API server says the resourceVersion is too old.
      (res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(JSON.stringify({ type: 'ADDED', object: pod('b', '6') }) + '\n');
        res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old resource version' } }) + '\n');
      },
      // 2, 3: the API server fails.
      (res) => res.writeHead(500).end('{"message":"etcd unavailable"}'),
      (res) => res.writeHead(500).end('{"message":"etcd unavailable"}'),
      // 4: a watch that stays open.
      (res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('');
      },
    ];
    const watchedFrom: string[] = [];
    let listCalls = 0;
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.searchParams.get('watch') === 'true') {
        watchedFrom.push(url.searchParams.get('resourceVersion') ?? '');
        const step = watchSteps.shift();
        if (step) step(res, url.searchParams);
        else res.writeHead(200).write('');
        return;
      }
      res.writeHead(404).end();
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'fake', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'nobody' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'nobody' }],
      currentContext: 'fake',
    });

    const delays: number[] = [];
    const events: string[] = [];
    const connections: boolean[] = [];
    const informer = new Informer<V1Pod>({
      kubeConfig,
      path: '/api/v1/namespaces/ns/pods',
      labelSelector: 'app.kubernetes.io/managed-by=skaha',
      list: async () => {
        const items = lists[listCalls++] ?? [];
        return { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: items[0]?.metadata?.resourceVersion ?? '' }, items };
      },
      onEvent: (event, p) => events.push(`${event} ${p.metadata?.name}`),
      onConnection: (up) => connections.push(up),
      log: { warn() {} },
      delay: async (ms) => void delays.push(ms),
    });
    await informer.start();
    for (let i = 0; i < 100 && watchSteps.length > 0; i++) await sleep(20);
    await sleep(50);

    assert.equal(listCalls, 2, 'listed once at start and once after the 410');
    assert.deepEqual(watchedFrom, ['5', '10', '10', '10'], 'each watch resumes from the last resourceVersion it has');
    assert.deepEqual(events, ['add a', 'add b', 'delete a', 'delete b', 'add c'], 'the re-list removes what is gone and adds what is new');
    assert.deepEqual(
      informer.list().map((p) => p.metadata?.name),
      ['c'],
    );
    assert.deepEqual(delays, [WATCH_BACKOFF_INITIAL_MS, 2 * WATCH_BACKOFF_INITIAL_MS], 'backs off 1 s, then 2 s');
    assert.equal(informer.connected, true, 'the last watch is up');
    assert.deepEqual(connections, [true, false, true]);
    assert.ok(WATCH_BACKOFF_MAX_MS === 30_000);
    await informer.stop();
    assert.equal(informer.connected, false);
  });

  it('start() throws when the first list fails, so the server does not start blind', async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'none', server: 'http://127.0.0.1:9', skipTLSVerify: true }],
      users: [{ name: 'nobody' }],
      contexts: [{ name: 'none', cluster: 'none', user: 'nobody' }],
      currentContext: 'none',
    });
    const informer = new Informer<V1Pod>({
      kubeConfig,
      path: '/api/v1/namespaces/ns/pods',
      labelSelector: 'x',
      list: () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' })),
      onEvent: () => undefined,
      log: { warn() {} },
      delay: async () => undefined,
    });
    await assert.rejects(informer.start(), /ECONNREFUSED/);
  });
});
