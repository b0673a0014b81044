import pg from 'pg';
import type { PostgresSourceConfig } from '../config.js';
import { PgConnectError, pgUrlWithPasswordFile, serverMajor } from '../tools.js';
import { parseLsn, parseSegmentSize, type Lsn } from './wal-names.js';
import { UsageError } from '../../../util/errors.js';

/**
 * The replication connection's URL with its password: `pitr.url` with `pitr.passwordFile`, else the source's own URL
 * with the source's `passwordFile` (callers pass the configured section, as loaded). The file is read on every call,
 * so a rotated Secret is picked up when the archiver reconnects.
 */
export function replicationUrl(cfg: PostgresSourceConfig): string {
  return cfg.pitr?.url ? pgUrlWithPasswordFile(cfg.pitr.url, cfg.pitr.passwordFile) : pgUrlWithPasswordFile(cfg.url, cfg.passwordFile);
}

export function pitrOf(cfg: PostgresSourceConfig | undefined): NonNullable<PostgresSourceConfig['pitr']> {
  if (!cfg?.pitr?.enabled) throw new UsageError('point-in-time recovery is not enabled: set sources.postgres.pitr.enabled: true');
  return cfg.pitr;
}

export interface SystemInfo {
  systemIdentifier: string;
  timeline: number;
  /** The server's current WAL flush position. */
  flushLsn: Lsn;
  serverVersion: string;
  major: number;
  walSegmentSize: number;
}

export interface SlotInfo {
  restartLsn?: Lsn;
  exists: boolean;
}

/**
 * A physical replication connection (what pg_receivewal and pg_basebackup use), for IDENTIFY_SYSTEM, SHOW and
 * READ_REPLICATION_SLOT: it needs the REPLICATION attribute and a `replication` line in pg_hba.conf, nothing else.
 */
export class ReplicationConnection {
  private constructor(private readonly client: pg.Client) {}

  static async open(url: string, connectTimeoutMs = 30_000): Promise<ReplicationConnection> {
    const client = new pg.Client({ connectionString: url, replication: true, connectionTimeoutMillis: connectTimeoutMs, application_name: 'gushen-dr wal-archive' } as pg.ClientConfig);
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw new PgConnectError(url, 'replication', err);
    }
    return new ReplicationConnection(client);
  }

  async identify(): Promise<SystemInfo> {
    const id = (await this.client.query<{ systemid: string; timeline: number | string; xlogpos: string }>('IDENTIFY_SYSTEM')).rows[0];
    const show = async (name: string) => Object.values((await this.client.query(`SHOW ${name}`)).rows[0] as Record<string, string>)[0];
    const versionNum = Number(await show('server_version_num'));
    return {
      systemIdentifier: String(id.systemid),
      timeline: Number(id.timeline),
      flushLsn: parseLsn(id.xlogpos),
      serverVersion: (await show('server_version')).split(' ')[0],
      major: serverMajor(versionNum),
      walSegmentSize: parseSegmentSize(await show('wal_segment_size')),
    };
  }

  /** The slot's restart LSN (PostgreSQL 15+; older servers answer undefined). */
  async slot(name: string): Promise<SlotInfo | undefined> {
    try {
      const r = (await this.client.query<{ slot_type: string | null; restart_lsn: string | null }>(`READ_REPLICATION_SLOT ${name}`)).rows[0];
      if (!r || r.slot_type === null) return { exists: false };
      return { exists: true, restartLsn: r.restart_lsn ? parseLsn(r.restart_lsn) : undefined };
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}

export async function withReplication<T>(url: string, fn: (c: ReplicationConnection) => Promise<T>, connectTimeoutMs?: number): Promise<T> {
  const c = await ReplicationConnection.open(url, connectTimeoutMs);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}
