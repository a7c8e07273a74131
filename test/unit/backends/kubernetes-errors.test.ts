import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiFailure } from '../../../src/backends/kubernetes/errors.js';

describe('Kubernetes API failures as users see them', () => {
  it('tells a missing permission of the service account apart from an unreachable cluster, details only in the log', () => {
    const refused = apiFailure(
      'create job',
      Object.assign(new Error('HTTP-Code: 403 Message: jobs.batch is forbidden: User "system:serviceaccount:skaha:skaha" cannot create resource "jobs"'), {
        code: 403,
      }),
    );
    assert.equal(refused.statusCode, 503);
    assert.match(refused.message, /^temporarily unavailable: the cluster refused the platform's request/);
    assert.ok(!refused.message.includes('serviceaccount:skaha'), 'RBAC detail stays out of the answer');
    assert.match(String(refused.logMessage), /create job: .*403/);
    const down = apiFailure('create job', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }));
    assert.match(down.message, /the container engine is not reachable/);
  });
});
