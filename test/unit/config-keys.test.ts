import { describe, expect, it } from 'vitest';
import { levenshtein } from '../../src/config/load.js';
import { selectSources } from '../../src/engine/backup.js';
import { parseConfig } from '../../src/sources/registry.js';
import { UsageError } from '../../src/util/errors.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCliProcess } from '../support/cli-process.js';
import { tempDir } from '../support/tmp.js';

const R = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const head = `store: { url: "file:///tmp/x" }\nencryption: { recipients: [${R}] }\n`;
const fails = (yaml: string): string => {
  try {
    parseConfig(yaml, {}, 'cfg');
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected the config to be refused');
};

describe('config: restore-only configs, the default database, did you mean', () => {
  it('a config with only store and encryption loads (restore, verify, list, drill); a backup with it is bad usage naming the sources', () => {
    for (const yaml of [head, `${head}sources: {}\n`]) {
      const c = parseConfig(yaml, {}, 'cfg');
      expect(c.sources).toEqual({});
      expect(() => selectSources(c)).toThrow(UsageError);
      expect(() => selectSources(c)).toThrow(/^no source is configured: add sources\.kube, sources\.postgres, sources\.redis/);
    }
  });

  it('through the CLI: list works with a restore-only config, backup exits 2 saying no source is configured', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'restore-only.yaml');
      await writeFile(file, head.replace('file:///tmp/x', `file://${join(dir.path, 'store')}`));
      const list = await runCliProcess(['--config', file, 'list']);
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toContain('no backups in');
      const backup = await runCliProcess(['--config', file, 'backup']);
      expect(backup.code).toBe(2);
      expect(backup.stderr).toContain('gushen-dr: no source is configured: add sources.kube, sources.postgres, sources.redis');
    } finally {
      await dir.cleanup();
    }
  }, 60_000);

  it('sources.postgres.databases defaults to the database the URL names, and is required when it names none', () => {
    const c = parseConfig(`${head}sources:\n  postgres: { url: "postgres://u@h:5432/gushen%2Dprod" }\n`, {}, 'cfg');
    expect(c.sources.postgres?.databases).toEqual(['gushen-prod']);
    expect(parseConfig(`${head}sources:\n  postgres: { url: "postgres://u@h:5432/a", databases: [b, c] }\n`, {}, 'cfg').sources.postgres?.databases).toEqual(['b', 'c']);
    expect(fails(`${head}sources:\n  postgres: { url: "postgres://u@h:5432/" }\n`)).toBe(
      'cfg: sources.postgres.databases: required when the URL names no database (postgres://host:5432/<database>)',
    );
  });

  it('an unknown key close to an allowed one (edit distance ≤ 2) at its level gets a "did you mean"', () => {
    expect(fails(`${head}sources:\n  postgres: { url: "postgres://u@h/d", databse: [x] }\n`)).toBe('cfg: sources.postgres: unknown key "databse" (did you mean "databases"?)');
    expect(fails(`${head}retension: { nightly: 3 }\n`)).toBe('cfg: (root): unknown key "retension" (did you mean "retention"?)');
    expect(fails(`${head}store2: {}\n`)).toBe('cfg: (root): unknown key "store2" (did you mean "store"?)');
    expect(fails(`${head}sources:\n  redis: { url: "redis://h", metod: file }\n`)).toBe('cfg: sources.redis: unknown key "metod" (did you mean "method"?)');
    expect(fails(`${head}drill:\n  postgres: { url: "postgres://h/", passwordfile: /p }\n`)).toBe('cfg: drill.postgres: unknown key "passwordfile" (did you mean "passwordFile"?)');
    expect(fails(`${head}sources:\n  mysql: { url: "mysql://h" }\n`)).toBe('cfg: sources: unknown key "mysql"');
    expect(fails(`${head}store: { url: "s3://b/p", s3: { endpiont: "http://h" } }\n`.replace('store: { url: "file:///tmp/x" }\n', ''))).toBe(
      'cfg: store.s3: unknown key "endpiont" (did you mean "endpoint"?)',
    );
  });

  it('levenshtein', () => {
    expect([levenshtein('', 'abc'), levenshtein('kitten', 'sitting'), levenshtein('databse', 'databases'), levenshtein('same', 'same')]).toEqual([3, 3, 2, 0]);
  });
});
