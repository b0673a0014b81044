/** `pods/<name>/exec` over WebSocket (channel.k8s.io v4/v5 framing), mapped to local processes. */
import { spawn, type ChildProcess } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Api } from './api.js';
import { ApiError, badRequest } from './errors.js';
import { arr, rec, str, type ExecHandler, type ExecTarget } from './types.js';

export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const CLOSE = 255;

/** Pause the child's output while this much is queued on the socket. */
const HIGH_WATER = 8 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;

export interface ExecQuery {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** Writes an HTTP error response on a socket that was not upgraded. */
export function rejectUpgrade(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify(err.toStatus());
  socket.end(`HTTP/1.1 ${err.code} ${STATUS_CODES[err.code] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

const truthy = (v: string | null): boolean => v === 'true' || v === '1';

/** Validates an exec request against the stored pod (404 / 400 before any upgrade). */
export function parseExecQuery(api: Api, namespace: string, pod: string, params: URLSearchParams): ExecQuery {
  const podDef = api.registry.byResource('', 'pods')!;
  const obj = api.get(podDef, namespace, pod);
  const containers = arr(rec(obj.spec).containers).map((c) => str(rec(c).name) ?? '');
  let container = params.get('container') ?? '';
  if (!container) {
    if (containers.length !== 1) throw badRequest(`a container name must be specified for pod ${pod}, choose one of: [${containers.join(' ')}]`);
    container = containers[0]!;
  }
  const ephemeral = arr(rec(obj.spec).ephemeralContainers).map((c) => str(rec(c).name) ?? '');
  const init = arr(rec(obj.spec).initContainers).map((c) => str(rec(c).name) ?? '');
  if (![...containers, ...init, ...ephemeral].includes(container)) throw badRequest(`container ${container} is not valid for pod ${pod}`);
  const command = params.getAll('command');
  if (command.length === 0) throw badRequest('you must specify at least 1 command');
  return { namespace, pod, container, command, stdin: truthy(params.get('stdin')), stdout: truthy(params.get('stdout')), stderr: truthy(params.get('stderr')) };
}

function statusJson(status: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify({ metadata: {}, ...status }));
}

export class ExecServer {
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (offered: Set<string>) => EXEC_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  private readonly children = new Set<ChildProcess>();

  constructor(private readonly handler: ExecHandler | undefined) {}

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, q: ExecQuery): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.run(ws, q));
  }

  private run(ws: WebSocket, q: ExecQuery): void {
    const structured = ws.protocol === 'v4.channel.k8s.io' || ws.protocol === 'v5.channel.k8s.io';
    const finish = (status: Record<string, unknown>): void => {
      if (ws.readyState !== ws.OPEN) return;
      if (structured) ws.send(Buffer.concat([Buffer.from([ERROR]), statusJson(status)]));
      else if (status.status !== 'Success') ws.send(Buffer.concat([Buffer.from([ERROR]), Buffer.from(String(status.message ?? ''))]));
      ws.close(1000);
    };
    let target: ExecTarget | undefined;
    try {
      target = this.handler?.({ namespace: q.namespace, pod: q.pod, container: q.container, command: q.command });
    } catch (e) {
      finish({ status: 'Failure', reason: 'InternalError', code: 500, message: `Internal error occurred: ${(e as Error).message}` });
      return;
    }
    if (!target) {
      finish({ status: 'Failure', reason: 'InternalError', code: 500, message: `Internal error occurred: error executing command in container: container not found ("${q.container}")`, details: { causes: [{ message: `container not found ("${q.container}")` }] } });
      return;
    }
    const child = spawn(target.command, target.args, { cwd: target.cwd, env: target.env ? { ...process.env, ...target.env } : process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.add(child);
    let pending = 0;
    let paused = false;
    const pause = (): void => {
      paused = true;
      child.stdout?.pause();
      child.stderr?.pause();
    };
    const resume = (): void => {
      paused = false;
      child.stdout?.resume();
      child.stderr?.resume();
    };
    const forward = (channel: number, wanted: boolean) => (chunk: Buffer) => {
      if (!wanted || ws.readyState !== ws.OPEN) return;
      const frame = Buffer.allocUnsafe(chunk.length + 1);
      frame[0] = channel;
      chunk.copy(frame, 1);
      pending += frame.length;
      ws.send(frame, { binary: true }, () => {
        pending -= frame.length;
        if (paused && pending < LOW_WATER && ws.bufferedAmount < LOW_WATER) resume();
      });
      if (pending > HIGH_WATER || ws.bufferedAmount > HIGH_WATER) pause();
    };
    child.stdout?.on('data', forward(STDOUT, q.stdout));
    child.stderr?.on('data', forward(STDERR, q.stderr));
    child.stdin?.on('error', () => undefined);
    if (!q.stdin) child.stdin?.end();
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary || data.length === 0) return;
      if (data[0] === STDIN && q.stdin) child.stdin?.write(data.subarray(1));
      else if (data[0] === CLOSE && data[1] === STDIN) child.stdin?.end();
    });
    ws.on('close', () => {
      if (paused) resume();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let spawnError: Error | undefined;
    child.on('error', (e) => {
      spawnError = e;
    });
    child.on('close', (code, signal) => {
      this.children.delete(child);
      const cmd = `[${q.command.join(' ')}]`;
      if (spawnError) {
        const msg = `error executing command in container: failed to exec in container: failed to start exec: OCI runtime exec failed: exec failed: unable to start container process: exec: "${q.command[0] ?? ''}": ${(spawnError as NodeJS.ErrnoException).code === 'ENOENT' ? 'executable file not found in $PATH' : spawnError.message}: unknown`;
        finish({ status: 'Failure', reason: 'InternalError', code: 500, message: `Internal error occurred: ${msg}`, details: { causes: [{ message: msg }] } });
        return;
      }
      const exit = code ?? (signal ? 128 + (({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGPIPE: 13 } as Record<string, number>)[signal] ?? 1) : 1);
      if (exit === 0) finish({ status: 'Success' });
      else {
        finish({
          status: 'Failure',
          message: `command terminated with non-zero exit code: error executing command ${cmd}, exit code ${exit}`,
          reason: 'NonZeroExitCode',
          details: { causes: [{ reason: 'ExitCode', message: String(exit) }] },
        });
      }
    });
  }

  close(): void {
    for (const c of this.children) c.kill('SIGKILL');
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}

/** Runs the exec'd command itself on this machine (argv as given). */
export function localExecHandler(opts: { cwd?: string; env?: Record<string, string> } = {}): ExecHandler {
  return (req) => ({ command: req.command[0] ?? 'true', args: req.command.slice(1), cwd: opts.cwd, env: opts.env });
}
