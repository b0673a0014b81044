import { PassThrough, Writable, type Readable } from 'node:stream';
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../util/log.js';
import { OperationError, errorMessage } from '../../util/errors.js';
import { loadKubeConfig, plainHttpConfig } from '../shared/kube-client.js';

export interface PodTarget {
  namespace: string;
  pod: string;
  container: string;
}

/**
 * KubeConfig from sources.kube.kubeconfig / context when set, else the default chain (KUBECONFIG,
 * ~/.kube/config, in-cluster). client-node refuses a plain `http://` server unless the cluster says
 * insecure-skip-tls-verify (kubectl accepts one, e.g. `kubectl proxy`); there is no TLS to verify
 * there, so such a cluster gets the flag on a copy of the config. HTTPS servers are used as configured.
 */
export function kubeConfigFor(config: Config): KubeConfig {
  return plainHttpConfig(loadKubeConfig(config.sources.kube));
}

/** What a minimal WebSocket from `ws` offers (the client library returns one). */
interface Socket {
  pause?(): void;
  resume?(): void;
  close(): void;
  terminate?(): void;
  on?(event: 'close' | 'error', fn: (...args: unknown[]) => void): void;
  addEventListener?(event: 'close' | 'error', fn: (...args: unknown[]) => void): void;
}

const STDERR_KEEP = 2048;

function statusMessage(s: V1Status): string {
  const parts = [s.message ?? s.reason ?? s.status ?? 'unknown failure'];
  const exit = s.details?.causes?.find((c) => c.reason === 'ExitCode')?.message;
  if (exit && !parts[0].includes(`exit code ${exit}`)) parts.push(`exit code ${exit}`);
  return parts.join(', ');
}

/**
 * The `exec` method: streams `cat <path>` out of the pod through the Kubernetes exec API (the same
 * WebSocket `kubectl exec` uses). The returned stream ends only when the command's final status is
 * Success and bytes arrived; otherwise it fails with the status message and the end of stderr.
 * Backpressure: the WebSocket is paused while the consumer is behind. (Not the library's `Cp`
 * helper: its promise settles before the transfer ends and its errors escape as uncaught exceptions.)
 */
export async function execCat(kc: KubeConfig, target: PodTarget, path: string, opts: { log: Logger; signal?: AbortSignal }): Promise<Readable> {
  const where = `pod ${target.namespace}/${target.pod} container ${target.container}`;
  const out = new PassThrough({ highWaterMark: 4 << 20 });
  let socket: Socket | undefined;
  let paused = false;
  let bytes = 0;
  let stderrTail = '';
  let settled = false;
  let resolveStatus!: (s: V1Status | undefined) => void;
  const statusKnown = new Promise<V1Status | undefined>((r) => (resolveStatus = r));

  const fail = (msg: string, cause?: unknown) => {
    if (settled) return;
    settled = true;
    try {
      if (socket?.terminate) socket.terminate();
      else socket?.close();
    } catch {
      // already closed
    }
    out.destroy(new OperationError(`exec cat ${path} in ${where}: ${msg}`, { cause }));
  };

  const stdout = new Writable({
    write(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (!out.write(chunk) && socket?.pause && !paused) {
        paused = true;
        socket.pause();
        out.once('drain', () => {
          paused = false;
          socket?.resume?.();
        });
      }
      cb();
    },
    final(cb) {
      // The library ends stdout just before it reports the status: decide once the status is known.
      void statusKnown.then((status) => {
        if (settled) return;
        if (!status) return fail('the connection closed before the command reported its exit status');
        if (status.status !== 'Success') {
          return fail(`${statusMessage(status)}${stderrTail.trim() ? `; stderr: ${stderrTail.trim()}` : ''}`);
        }
        if (bytes === 0) return fail('the command succeeded but sent no bytes');
        settled = true;
        out.end();
      });
      cb();
    },
  });
  const stderr = new Writable({
    write(chunk: Buffer, _enc, cb) {
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-STDERR_KEEP);
      cb();
    },
  });

  // Until the caller has `out`, nobody listens for its errors: an abort in that window must not crash the process.
  // The caller's pipeline attaches its own listeners and still sees every error.
  out.on('error', () => undefined);
  const onAbort = () => fail('aborted', opts.signal?.reason);
  if (opts.signal?.aborted) throw new OperationError(`exec cat ${path} in ${where}: aborted`);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  out.once('close', () => opts.signal?.removeEventListener('abort', onAbort));

  try {
    const ws = (await new Exec(kc).exec(target.namespace, target.pod, target.container, ['cat', path], stdout, stderr, null, false, (status) =>
      resolveStatus(status),
    )) as unknown as Socket;
    socket = ws;
  } catch (err) {
    opts.signal?.removeEventListener('abort', onAbort);
    const msg = err && typeof err === 'object' && 'message' in err ? String((err as { message: unknown }).message) : errorMessage(err);
    throw new OperationError(`exec into ${where} failed: ${msg || 'connection refused'}`, { cause: err });
  }
  if (settled) {
    socket.close();
    throw new OperationError(`exec cat ${path} in ${where}: aborted`);
  }
  const onClose = () => {
    // After the status arrives the library closes the socket itself; a close before it is a failure.
    setImmediate(() => {
      resolveStatus(undefined);
      void statusKnown.then((s) => {
        if (!s) fail('the connection closed before the command reported its exit status');
      });
    });
  };
  const onError = (e: unknown) => fail(`WebSocket error: ${errorMessage(e)}`, e);
  if (socket.on) {
    socket.on('close', onClose);
    socket.on('error', onError);
  } else {
    socket.addEventListener?.('close', onClose);
    socket.addEventListener?.('error', onError);
  }
  opts.log.debug({ namespace: target.namespace, pod: target.pod, container: target.container, path }, 'streaming the RDB file through pod exec');
  return out;
}
