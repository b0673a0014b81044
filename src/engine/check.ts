import { randomBytes } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import type { Identity } from '../crypto/index.js';
import type { Config, SourceName } from '../config/schema.js';
import { loadIdentities, loadRecipients } from '../config/keys.js';
import { loadSigningKey, loadSigningPublicKeys } from '../config/signing.js';
import { listBackups } from '../repository/catalog.js';
import { CHECKS_PREFIX } from '../repository/layout.js';
import type { Manifest } from '../repository/manifest.js';
import { ensureScratchSpace } from '../repository/artifact-reader.js';
import type { ObjectStore } from '../store/types.js';
import { readObject } from '../store/text.js';
import type { CheckRow, CheckedCommand, Source } from '../sources/source.js';
import { SOURCES } from '../sources/registry.js';
import { checkRow, failed, skipped } from '../sources/shared/check-rows.js';
import { OperationError, UsageError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';

export type { CheckRow, CheckedCommand };

export interface CheckRunOptions {
  config: Config;
  store: ObjectStore;
  log: Logger;
  /** Whose needs are checked (default backup): a restore and a drill need the identity, a drill more Kubernetes rights. */
  command?: CheckedCommand;
  /** Only these sources' rows (default: every configured one). */
  only?: SourceName[];
  /** `--identity FILE` instead of encryption.identityFile. */
  identityFile?: string;
  scratchDir?: string;
  signal?: AbortSignal;
  /** For tests: the registry (default: every source gushen-dr knows). */
  registry?: readonly Source<any, any>[];
}

/**
 * `gushen-dr check`: everything a backup, restore or drill needs, checked without changing anything but a probe object
 * under `checks/` (written, read back, deleted). The store, the keys (recipients parse, the identity opens the latest
 * backup), the scratch space, then each configured source's own rows (Source.check). Never throws for a failed
 * check: each is a row, and the caller decides (exit 1 when any failed).
 */
export async function runChecks(o: CheckRunOptions): Promise<CheckRow[]> {
  const command = o.command ?? 'backup';
  const registry = o.registry ?? SOURCES;
  const rows: CheckRow[] = [];
  rows.push(await storeWriteCheck(o.store, o.signal));
  if (o.config.store.s3.objectLock && o.config.store.url.startsWith('s3://')) rows.push(await objectLockCheck(o.store, o.config));

  let latest: Manifest | undefined;
  rows.push(
    await checkRow('store backups', async () => {
      const trust = { publicKeys: await loadSigningPublicKeys(o.config).catch(() => undefined) };
      const entries = await listBackups(o.store, trust);
      latest = entries.filter((e) => e.status === 'Completed').at(-1)?.manifest;
      if (entries.length === 0) return command === 'backup' ? `no backups yet in ${o.store.description}` : failed(`no backups in ${o.store.description}: nothing to ${command}`);
      if (!latest) return command === 'backup' ? `${entries.length} backups, none Completed` : failed(`${entries.length} backups in ${o.store.description}, none Completed`);
      return `${entries.length} backups; latest Completed: ${latest.id}`;
    }),
  );
  rows.push(await checkRow('encryption recipients', async () => `${(await loadRecipients(o.config)).length} recipient(s) parse`));
  if (o.config.signing?.keyFile) rows.push(await checkRow('signing key', async () => `signing.keyFile ${o.config.signing!.keyFile}: ${(await loadSigningKey(o.config))!.publicKey.fingerprint}`));
  rows.push(await identityRow(o, command, latest));
  rows.push(await scratchRow(o, command, latest));

  const configured = registry.filter((s) => (o.config.sources as Record<string, unknown>)[s.name] !== undefined && (!o.only || o.only.includes(s.name)));
  for (const s of configured) {
    if (!s.check) continue;
    try {
      rows.push(...(await s.check({ config: o.config, command, log: o.log.child({ check: s.name }), signal: o.signal, latest })));
    } catch (err) {
      rows.push({ check: s.name, status: 'failed', detail: errorMessage(err) });
    }
  }
  return rows;
}

/**
 * Writes a small probe object under `checks/<random>`, reads it back, compares and deletes it: the credentials,
 * the bucket (or directory) and the rights a backup needs (put, get, delete), in three requests.
 */
export async function storeWriteCheck(store: ObjectStore, signal?: AbortSignal): Promise<CheckRow> {
  return checkRow('store write', async () => {
    const key = `${CHECKS_PREFIX}${randomBytes(8).toString('hex')}`;
    const body = Buffer.from(`gushen-dr check ${new Date().toISOString()}\n`);
    await store.put(key, Readable.from([body]), { signal });
    let back: Buffer;
    try {
      back = await readObject(store, key);
    } finally {
      await store.delete(key).catch((err: unknown) => {
        throw new OperationError(`${store.description}: wrote ${key} but could not delete it (prune and the lock need delete): ${errorMessage(err)}`);
      });
    }
    if (!back.equals(body)) throw new OperationError(`${store.description}: ${key} read back ${back.length} bytes that differ from the ${body.length} written`);
    return `${store.description}: wrote, read back and deleted ${key}`;
  });
}

async function objectLockCheck(store: ObjectStore, config: Config): Promise<CheckRow> {
  return checkRow('store object lock', async () => {
    const lock = config.store.s3.objectLock!;
    const probe = (store as { objectLockEnabled?: () => Promise<boolean> }).objectLockEnabled;
    if (!probe) return skipped('this store cannot tell');
    if (!(await probe.call(store))) {
      return failed(`store.s3.objectLock is configured (${lock.mode}, ${lock.days} days) but the bucket of ${store.description} has no Object Lock: backups would be deletable`);
    }
    return `enabled; backups retained ${lock.mode} for ${lock.days} days`;
  });
}

/** The identity opens the latest backup: one of its X25519 recipients is among those the backup was encrypted to. */
async function identityRow(o: CheckRunOptions, command: CheckedCommand, latest: Manifest | undefined): Promise<CheckRow> {
  return checkRow('encryption identity', async () => {
    const file = o.identityFile ?? o.config.encryption.identityFile;
    if (!file) {
      const why = 'no encryption.identityFile (restore, verify --deep and drill need it, or --identity FILE)';
      return command === 'backup' ? skipped(`${why}; a backup needs only the recipients`) : failed(why);
    }
    const identities = await loadIdentities(o.config, o.identityFile);
    if (!latest) return skipped(`identity file ${file} parses; no Completed backup to compare it with`);
    const problem = identityMismatch(identities, latest);
    if (problem) return failed(`identity file ${file}: ${problem}`);
    return `identity file ${file} opens backup ${latest.id}`;
  });
}

/**
 * Why these identities cannot open `manifest`'s artifacts (none of their recipients is one the artifacts were
 * encrypted to), or undefined when one can, or when that cannot be told (passphrase identities).
 */
export function identityMismatch(identities: Identity[], manifest: Manifest): string | undefined {
  if (identities.some((i) => i.type !== 'x25519')) return undefined;
  const mine = identities.flatMap((i) => (i.type === 'x25519' ? [i.recipient] : []));
  for (const a of manifest.artifacts) {
    if (!a.encryption.recipients.some((r) => mine.includes(r))) {
      return (
        `artifact ${a.name} of backup ${manifest.id}: no identity matched: it is encrypted to ${a.encryption.recipients.map(short).join(', ')}, ` +
        (mine.length > 0 ? `and the identity is the key of ${mine.map(short).join(', ')}` : 'and no identity was given') +
        '; use the identity of one of its recipients (--identity FILE)'
      );
    }
  }
  return undefined;
}

/** Before a restore or drill reads anything: the identity must open the backup (a UsageError, exit 2, otherwise). */
export function checkIdentityOpens(identities: Identity[], manifest: Manifest): void {
  const problem = identityMismatch(identities, manifest);
  if (problem) throw new UsageError(problem);
}

const short = (r: string) => `${r.slice(0, 12)}…${r.slice(-6)}`;

/** Free space in the scratch directory: for a restore or drill, room to stage the latest backup's largest artifact. */
async function scratchRow(o: CheckRunOptions, command: CheckedCommand, latest: Manifest | undefined): Promise<CheckRow> {
  return checkRow('scratch space', async () => {
    const dir = o.scratchDir ?? o.config.scratchDir ?? tmpdir();
    const largest = command === 'backup' || !latest ? undefined : [...latest.artifacts].sort((a, b) => b.size - a.size)[0];
    await ensureScratchSpace(dir, largest?.size ?? 0, largest ? `${largest.name} of ${latest!.id}` : 'anything');
    const s = await statfs(dir);
    const free = `${((s.bavail * s.bsize) / 1024 / 1024 / 1024).toFixed(1)} GiB free in ${dir}`;
    return largest ? `${free}; the largest artifact (${largest.name}) is ${(largest.size / 1024 / 1024).toFixed(1)} MiB` : free;
  });
}

/** Throws an OperationError naming every failed row (for the preflight at the start of a command). */
export function assertChecksPassed(rows: readonly CheckRow[], what: string): void {
  const bad = rows.filter((r) => r.status === 'failed');
  if (bad.length > 0) throw new OperationError(`${what}: ${bad.map((r) => `${r.check}: ${r.detail}`).join('; ')}`);
}
