import { describe, expect, it } from 'vitest';
import { Catalog, ChecksumChangedError } from '../../src/state/catalog.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';

const input = {
  id: '20261120-split-name',
  collection: 'users',
  kind: 'in-place' as const,
  from: 1,
  to: 2,
  checksum: 'aaa',
};

describe('catalog', () => {
  it('registers once, then returns the existing entry', async () => {
    const cat = new Catalog(new MemoryStore());
    const first = await cat.register(input);
    expect(first.created).toBe(true);
    expect(first.entry.status).toBe('pending');
    const again = await cat.register(input);
    expect(again.created).toBe(false);
    expect((await cat.list()).map((e) => e.id)).toEqual([input.id]);
  });

  it('refuses a file changed after it started unless forced', async () => {
    const cat = new Catalog(new MemoryStore());
    await cat.register(input);
    // still pending: a changed file is simply re-registered
    expect((await cat.register({ ...input, checksum: 'bbb' })).entry.checksum).toBe('bbb');
    await cat.setStatus(input.id, 'backfilling');
    await expect(cat.register({ ...input, checksum: 'ccc' })).rejects.toBeInstanceOf(
      ChecksumChangedError,
    );
    await expect(cat.register({ ...input, checksum: 'ccc' })).rejects.toThrow(/--force/);
    expect(
      (await cat.register({ ...input, checksum: 'ccc' }, { force: true })).entry.checksum,
    ).toBe('ccc');
  });

  it('concurrent updates are not lost', async () => {
    const cat = new Catalog(new MemoryStore());
    await cat.register(input);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        cat.update(input.id, (e) => ({
          ...e,
          seen: [...((e.seen as number[] | undefined) ?? []), i],
        })),
      ),
    );
    expect(((await cat.get(input.id))!.seen as number[]).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i),
    );
  });
});
