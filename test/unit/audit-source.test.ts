import { describe, expect, it } from 'vitest';
import { DEVELOPMENT_CALLER } from '../../src/server/auth';
import { pickRequestId } from '../../src/server/request-id';
import { auditSourceOf } from '../../src/services/audit.service';

describe('who and which request an audit row names', () => {
  it('a token caller is its sub; the development caller (auth off) and Herald itself are null', () => {
    expect(auditSourceOf({ tenantId: 't', subject: 'alice', scopes: [], requestId: 'r-1' })).toEqual({
      actor: 'alice',
      requestId: 'r-1',
    });
    expect(auditSourceOf({ ...DEVELOPMENT_CALLER, requestId: 'r-2' })).toEqual({
      actor: null,
      requestId: 'r-2',
    });
    expect(auditSourceOf({ tenantId: 't', subject: 'herald', scopes: [], anonymous: true })).toEqual({
      actor: null,
      requestId: null,
    });
  });

  it.each([
    ['0f8fad5b-d9cb-469f-a165-70867728950e', true],
    ['01ARZ3NDEKTSV4RRFFQ69G5FAV', true],
    ['Root=1-67891233-abcdef012345678912345678', true],
    ['a'.repeat(128), true],
    ['a'.repeat(129), false],
    ['', false],
    ['two words', false],
    ['line\nbreak', false],
    ['<script>', false],
  ])('x-request-id %j kept: %s', (incoming, kept) => {
    const id = pickRequestId(incoming);
    if (kept) expect(id).toBe(incoming);
    else expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('a repeated header keeps its first value when sane', () => {
    expect(pickRequestId(['first', 'second'])).toBe('first');
    expect(pickRequestId(undefined)).toMatch(/^[0-9a-f-]{36}$/);
  });
});
