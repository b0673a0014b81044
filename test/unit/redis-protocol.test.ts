import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchRdbByReplication } from '../../src/sources/redis/snapshot-replication.js';
import { compareVersions, rdbVersionOfRedis } from '../../src/sources/redis/loader-server.js';
import { minRedisForRdbVersion } from '../../src/sources/redis/rdb.js';
import { UsageError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { parseKeyspace, parseRedisUrl, type RedisEndpoint } from '../../src/sources/redis/client.js';

describe('redis URLs', () => {
  it('parses host, port, credentials, database and TLS, and never shows the password', () => {
    const ep = parseRedisUrl('redis://app:p%40ss%3Aw0rd@redis-0.redis-headless:6380/2');
    expect(ep).toMatchObject({ host: 'redis-0.redis-headless', port: 6380, username: 'app', password: 'p@ss:w0rd', db: 2, tls: false });
    expect(ep.display).not.toContain('w0rd');
    expect(parseRedisUrl('rediss://:secret@h')).toMatchObject({ port: 6379, password: 'secret', username: undefined, tls: true, db: 0 });
    expect(() => parseRedisUrl('http://h:6379')).toThrow(UsageError);
    expect(() => parseRedisUrl('redis://:pw@h/x')).toThrow(/database number/);
    const err = (() => {
      try {
        parseRedisUrl('redis://:topsecret@h/x');
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).not.toContain('topsecret');
  });

  it('reads INFO keyspace', () => {
    expect(parseKeyspace('# Keyspace\r\ndb0:keys=10,expires=3,avg_ttl=5\r\ndb12:keys=1,expires=0,avg_ttl=0\r\n')).toEqual([
      { db: 0, keys: 10, expires: 3 },
      { db: 12, keys: 1, expires: 0 },
    ]);
  });

  it('maps Redis releases to RDB versions', () => {
    expect(rdbVersionOfRedis('7.0.15')).toBe(10);
    expect(rdbVersionOfRedis('7.2.4')).toBe(11);
    expect(rdbVersionOfRedis('7.4.0')).toBe(12);
    expect(rdbVersionOfRedis('6.2.14')).toBe(9);
    expect(compareVersions('7.10.0', '7.2.0')).toBeGreaterThan(0);
    expect(minRedisForRdbVersion(11)).toBe('7.2');
  });
});

/**
 * The replication handshake and both payload framings against a scripted TCP peer, which can split
 * the stream at every awkward place (a real server's chunking is not under the test's control).
 */
describe('replication transfer framing', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  async function peer(script: (sock: Socket, commands: string[]) => Promise<void>): Promise<{ ep: RedisEndpoint; commands: string[] }> {
    const commands: string[] = [];
    server = createServer((sock) => {
      let buf = '';
      sock.on('data', (d) => {
        buf += d.toString('latin1');
        // Every command is a RESP array; reply +OK to all but SYNC, which starts the script.
        for (;;) {
          const m = /^\*(\d+)\r\n/.exec(buf);
          if (!m) return;
          let p = m[0].length;
          const args: string[] = [];
          for (let i = 0; i < Number(m[1]); i++) {
            const h = /^\$(\d+)\r\n/.exec(buf.slice(p));
            if (!h) return;
            p += h[0].length;
            args.push(buf.slice(p, p + Number(h[1])));
            p += Number(h[1]) + 2;
          }
          if (p > buf.length) return;
          buf = buf.slice(p);
          commands.push(args.join(' '));
          if (args[0] === 'SYNC') void script(sock, commands);
          else sock.write('+OK\r\n');
        }
      });
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server!.address() as { port: number }).port;
    return { ep: parseRedisUrl(`redis://user:pw@127.0.0.1:${port}`), commands };
  }

  const collect = async (ep: RedisEndpoint) => {
    const s = await fetchRdbByReplication(ep, { log: silentLogger, headerTimeoutMs: 5000 });
    const parts: Buffer[] = [];
    for await (const c of s) parts.push(c as Buffer);
    return Buffer.concat(parts);
  };
  const trickle = async (sock: Socket, data: Buffer, sizes: number[]) => {
    let p = 0;
    let i = 0;
    while (p < data.length) {
      const n = sizes[i++ % sizes.length];
      sock.write(data.subarray(p, p + n));
      p += n;
      await new Promise((r) => setImmediate(r));
    }
  };

  it('reads $EOF:<mark> framing with keepalives, +FULLRESYNC and the mark split across writes', async () => {
    const payload = randomBytes(200_000);
    const mark = randomBytes(20).toString('hex');
    const { ep, commands } = await peer(async (sock) => {
      await trickle(sock, Buffer.from(`\n\n+FULLRESYNC ${'a'.repeat(40)} 0\r\n\n$EOF:${mark}\r\n`), [3]);
      // Odd sizes put the mark's 40 bytes across several writes; bytes after the mark are not payload.
      await trickle(sock, Buffer.concat([payload, Buffer.from(mark), Buffer.from('*1\r\n$4\r\nPING\r\n')]), [65_536, 7, 1, 13, 39, 41]);
    });
    const got = await collect(ep);
    expect(got.equals(payload)).toBe(true);
    expect(commands).toEqual(['AUTH user pw', 'REPLCONF capa eof', 'REPLCONF rdb-only 1', 'SYNC']);
  });

  it('reads $<length> framing and stops at the length', async () => {
    const payload = randomBytes(100_003);
    const { ep } = await peer(async (sock) => {
      await trickle(sock, Buffer.concat([Buffer.from(`\n$${payload.length}\r\n`), payload, Buffer.from('trailing replication stream')]), [1, 4096, 17]);
    });
    expect((await collect(ep)).equals(payload)).toBe(true);
  });

  it('fails on a refused SYNC, a short payload, and a connection lost before the end mark', async () => {
    let p = await peer(async (sock) => void sock.write('-NOMASTERLINK Can\'t SYNC while not connected with my master\r\n'));
    await expect(collect(p.ep)).rejects.toThrow(/refused SYNC: NOMASTERLINK/);
    await new Promise<void>((r) => server!.close(() => r()));
    p = await peer(async (sock) => {
      sock.write('$100\r\n');
      sock.end(Buffer.alloc(60));
    });
    await expect(collect(p.ep)).rejects.toThrow(/closed after 60 bytes, 40 bytes short/);
    await new Promise<void>((r) => server!.close(() => r()));
    p = await peer(async (sock) => {
      sock.write(`$EOF:${'m'.repeat(40)}\r\n`);
      sock.end(Buffer.alloc(500));
    });
    await expect(collect(p.ep)).rejects.toThrow(/before the end mark/);
  });
});
