import { describe, expect, it } from 'vitest';
import { GroupCommit, settle, type Settled } from '../../src/persistence/group-commit';

/** A writer that records each batch it is given and answers after the test lets it. */
function recordingWriter() {
  const batches: string[][] = [];
  const pending: (() => void)[] = [];
  const write = (key: string, items: string[]): Promise<Settled<string>[]> => {
    batches.push(items.map((i) => `${key}:${i}`));
    return new Promise((resolve) =>
      pending.push(() =>
        resolve(
          items.map((i) =>
            i.startsWith('bad')
              ? { ok: false, error: new Error(`refused ${i}`) }
              : { ok: true, value: i.toUpperCase() },
          ),
        ),
      ),
    );
  };
  const releaseAll = () => pending.splice(0).forEach((release) => release());
  return { batches, write, releaseAll };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit (natural batching)', () => {
  it('items of one turn form one batch; each gets its own value or error', async () => {
    const writer = recordingWriter();
    const group = new GroupCommit(writer.write, { maxBatch: 100, inFlight: 1 });
    const outcomes = Promise.all(['a', 'bad1', 'b'].map((i) => settle(group.submit('t', i))));
    await turn();
    writer.releaseAll();
    expect(await outcomes).toEqual([
      { ok: true, value: 'A' },
      { ok: false, error: new Error('refused bad1') },
      { ok: true, value: 'B' },
    ]);
    expect(writer.batches).toEqual([['t:a', 't:bad1', 't:b']]);
  });

  it('items that arrive while a batch is written wait and go together in the next one', async () => {
    const writer = recordingWriter();
    const group = new GroupCommit(writer.write, { maxBatch: 100, inFlight: 1 });
    const first = group.submit('t', 'a');
    await turn();
    const later = ['b', 'c', 'd'].map((i) => group.submit('t', i));
    await turn();
    expect(writer.batches).toEqual([['t:a']]);
    writer.releaseAll();
    await first;
    await turn();
    writer.releaseAll();
    expect(await Promise.all(later)).toEqual(['B', 'C', 'D']);
    expect(writer.batches).toEqual([['t:a'], ['t:b', 't:c', 't:d']]);
  });

  it('keys are batched apart, maxBatch splits a queue, and inFlight batches of a key run together', async () => {
    const writer = recordingWriter();
    const group = new GroupCommit(writer.write, { maxBatch: 2, inFlight: 2 });
    const all = Promise.all([
      ...['a', 'b', 'c', 'd', 'e'].map((i) => group.submit('x', i)),
      group.submit('y', 'z'),
    ]);
    await turn();
    await turn();
    // Two batches of x in flight at once (inFlight 2), y on its own; e waits for a free slot.
    expect(writer.batches).toEqual([['x:a', 'x:b'], ['y:z'], ['x:c', 'x:d']]);
    writer.releaseAll();
    await turn();
    await turn();
    writer.releaseAll();
    expect(await all).toEqual(['A', 'B', 'C', 'D', 'E', 'Z']);
    expect(writer.batches.at(-1)).toEqual(['x:e']);
  });

  it('a writer that throws rejects every item of its batch, and the next batch still runs', async () => {
    let calls = 0;
    const group = new GroupCommit<string, string>(
      (_key, items) => {
        calls += 1;
        return calls === 1
          ? Promise.reject(new Error('database gone'))
          : Promise.resolve(items.map((value) => ({ ok: true, value })));
      },
      { maxBatch: 10, inFlight: 1 },
    );
    const failed = await Promise.all(['a', 'b'].map((i) => settle(group.submit('t', i))));
    expect(failed.map((o) => o.ok)).toEqual([false, false]);
    expect(await group.submit('t', 'c')).toBe('c');
  });
});
