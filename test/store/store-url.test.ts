import { describe, expect, it } from 'vitest';
import { ExitCode, StoreUrlError } from '../../src/core/errors.js';
import { openStore } from '../../src/store/open-store.js';
import { parseStoreUrl, redactSecrets, redactUrl } from '../../src/store/store-url.js';

describe('store URLs', () => {
  it('parses the embedded forms', () => {
    expect(parseStoreUrl('memory:').scheme).toBe('memory');
    expect(parseStoreUrl('sqlite:./data/app.db')).toMatchObject({
      scheme: 'sqlite',
      path: './data/app.db',
    });
    expect(parseStoreUrl('sqlite::memory:')).toMatchObject({ scheme: 'sqlite', path: ':memory:' });
    expect(parseStoreUrl('sqlite:///tmp/x.db')).toMatchObject({
      scheme: 'sqlite',
      path: '/tmp/x.db',
    });
    expect(parseStoreUrl('redis://u:p@127.0.0.1:6379/2').url?.port).toBe('6379');
  });

  it('redacts passwords wherever they appear', () => {
    expect(redactUrl('redis://app:s3cret@127.0.0.1:6379')).toBe('redis://app:***@127.0.0.1:6379');
    expect(redactUrl('mongodb://u:p%40ss@h/db?password=x&w=1')).toBe(
      'mongodb://u:***@h/db?password=***&w=1',
    );
    expect(redactSecrets('connect to redis://a:hunter2@h:1 failed')).toBe(
      'connect to redis://a:***@h:1 failed',
    );
  });

  it.each([
    ['', 'empty'],
    ['nonsense', 'no scheme'],
    ['ftp://u:hunter2@host', "unknown scheme 'ftp:'"],
    ['sqlite:', 'names no file'],
    ['memory:extra', 'takes nothing'],
    ['redis://u:hunter2@', 'not a valid URL'],
  ])('rejects %j with a clear error, exit 2, no password', (url, why) => {
    let err: unknown;
    try {
      parseStoreUrl(url);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreUrlError);
    const e = err as StoreUrlError;
    expect(e.exitCode).toBe(ExitCode.usage);
    expect(e.message).toContain(why);
    expect(e.message).not.toContain('hunter2');
    expect(e.field).toBe('store');
  });

  it('openStore opens memory and sqlite, and fails redacted where no server answers', async () => {
    const m = await openStore('memory:');
    expect(m.kind).toBe('memory');
    await m.close();
    const s = await openStore('sqlite::memory:');
    expect(s.kind).toBe('sqlite');
    await s.close();
    const mongo = 'mongodb://u:hunter2@127.0.0.1:1/x?serverSelectionTimeoutMS=300';
    await expect(openStore(mongo)).rejects.toThrow(/mongodb/);
    await expect(openStore(mongo)).rejects.not.toThrow(/hunter2/);
  });
});
