import { createHash } from 'node:crypto';
import {
  canonicalEventJson,
  canonicalJson,
  chainHash,
  GENESIS_HASH,
  type ChainedContent,
} from './audit-chain';

const row: ChainedContent = {
  id: 7,
  occurredAt: new Date('2025-03-04T05:06:07.089Z'),
  requestId: 'req-1',
  actorType: 'user',
  actorId: 'u-1',
  actorLabel: 'ada@example.com',
  action: 'user.create',
  resourceType: 'user',
  resourceId: 'u-2',
  outcome: 'success',
  httpStatus: 201,
  ip: null,
  userAgent: null,
  details: { z: 1, a: { y: [3, { b: true, a: null }], x: 'é"\n' } },
};

describe('canonical JSON and the chain hash', () => {
  it('sorts keys at every depth, keeps nulls explicit and has no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }], e: null, u: undefined })).toBe(
      '{"a":[{"c":2,"d":1}],"b":1,"e":null}',
    );
    expect(canonicalEventJson(row, 3)).toBe(
      '{"action":"user.create","actorId":"u-1","actorLabel":"ada@example.com","actorType":"user",' +
        '"chainSeq":3,"details":{"a":{"x":"é\\"\\n","y":[3,{"a":null,"b":true}]},"z":1},"httpStatus":201,' +
        '"id":7,"ip":null,"occurredAt":"2025-03-04T05:06:07.089Z","outcome":"success","requestId":"req-1",' +
        '"resourceId":"u-2","resourceType":"user","userAgent":null}',
    );
  });

  it('is sha256 over the previous hash followed by the canonical JSON', () => {
    const expected = createHash('sha256')
      .update(GENESIS_HASH + canonicalEventJson(row, 1))
      .digest('hex');
    expect(chainHash(GENESIS_HASH, row, 1)).toBe(expected);
    expect(chainHash(GENESIS_HASH, row, 1)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with any content, the position or the previous hash, but not with key order', () => {
    const base = chainHash(GENESIS_HASH, row, 1);
    expect(chainHash(GENESIS_HASH, { ...row, details: { ...row.details, z: 2 } }, 1)).not.toBe(base);
    expect(chainHash(GENESIS_HASH, { ...row, ip: '10.0.0.1' }, 1)).not.toBe(base);
    expect(chainHash(GENESIS_HASH, row, 2)).not.toBe(base);
    expect(chainHash('f'.repeat(64), row, 1)).not.toBe(base);
    const reordered = { ...row, details: { a: { x: 'é"\n', y: [3, { a: null, b: true }] }, z: 1 } };
    expect(chainHash(GENESIS_HASH, reordered, 1)).toBe(base);
  });
});
