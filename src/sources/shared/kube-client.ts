import { existsSync } from 'node:fs';
import { IsomorphicFetchHttpLibrary, KubeConfig, RequestContext, type HttpMethod } from '@kubernetes/client-node';

import { errorMessage, OperationError, UsageError } from '../../util/errors.js';
import { redactUrl } from '../../util/redact.js';

export { KubeConfig };

/**
 * Loads the KubeConfig for the kube source: `sources.kube.kubeconfig` when set, else the default chain
 * (`KUBECONFIG`, `~/.kube/config`, in-cluster service account); then `sources.kube.context` when set.
 */
export function loadKubeConfig(src?: { kubeconfig?: string; context?: string }): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (src?.kubeconfig) {
      if (!existsSync(src.kubeconfig)) throw new UsageError(`sources.kube.kubeconfig ${src.kubeconfig}: no such file`);
      kc.loadFromFile(src.kubeconfig);
    } else {
      kc.loadFromDefault();
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`kubeconfig${src?.kubeconfig ? ` ${src.kubeconfig}` : ''}: ${errorMessage(err)}`);
  }
  if (src?.context) {
    if (!kc.getContextObject(src.context)) {
      throw new UsageError(`sources.kube.context ${src.context}: no such context in the kubeconfig (have: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
    }
    kc.setCurrentContext(src.context);
  }
  if (!kc.getCurrentCluster()) throw new UsageError('kubeconfig: no current cluster (set sources.kube.kubeconfig / context, or KUBECONFIG)');
  return kc;
}

/** A Kubernetes API `Status` failure, or a non-JSON error response. */
export class KubeApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly code: number,
    readonly reason: string,
    readonly apiMessage: string,
    readonly status?: any,
  ) {
    super(`${method} ${path}: ${code} ${reason}: ${apiMessage}`);
    this.name = 'KubeApiError';
  }

  /** What a report shows: `Invalid: Service "x" is invalid: …` (the API's reason and message). */
  get detail(): string {
    return `${this.reason} (${this.code}): ${this.apiMessage}`;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 404;
}

export function isAlreadyExists(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 409 && err.reason === 'AlreadyExists';
}

export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 409 && err.reason === 'Conflict';
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** One discovered API resource at its group's preferred version. */
export interface ApiResource {
  group: string;
  version: string;
  /** `v1` or `apps/v1`. */
  groupVersion: string;
  resource: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
}

/**
 * A thin JSON client over the API server using client-node's KubeConfig for authentication and TLS
 * (client certificates, bearer tokens, exec plugins) and its fetch-based HTTP library. Objects are sent and
 * returned as plain JSON, untouched by client-node's typed serializer, so fields it does not model survive.
 */
export class KubeClient {
  private readonly http = new IsomorphicFetchHttpLibrary();
  readonly server: string;

  /** The config requests are authenticated with (see plainHttpConfig). */
  private readonly auth: KubeConfig;

  constructor(readonly kc: KubeConfig, private readonly defaultTimeoutMs = 60_000) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new UsageError('kubeconfig: no current cluster');
    this.server = cluster.server.replace(/\/+$/, '');
    this.auth = plainHttpConfig(kc);
  }

  /** Where requests go, safe to log. */
  get description(): string {
    return redactUrl(this.server);
  }

  async request<T = any>(method: HttpMethod, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const ctx = new RequestContext(url.toString(), method);
    ctx.setHeaderParam('Accept', 'application/json');
    ctx.setHeaderParam('User-Agent', 'gushen-dr');
    if (opts.body !== undefined) {
      ctx.setHeaderParam('Content-Type', opts.contentType ?? 'application/json');
      ctx.setBody(JSON.stringify(opts.body));
    }
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? this.defaultTimeoutMs);
    ctx.setSignal(opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout);
    await this.auth.applySecurityAuthentication(ctx);
    let status: number;
    let text: string;
    try {
      const res = await this.http.send(ctx).toPromise();
      status = res.httpStatusCode;
      text = await res.body.text();
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      const cause = (err as { cause?: unknown })?.cause;
      const why = timeout.aborted
        ? `no answer within ${Math.round((opts.timeoutMs ?? this.defaultTimeoutMs) / 1000)}s`
        : scrubUrls(`${errorMessage(err)}${cause ? ` (${errorMessage(cause)})` : ''}`);
      throw new OperationError(`Kubernetes API ${this.description}: ${method} ${path}: ${why}`, { cause: err });
    }
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (status >= 200 && status < 300) {
      if (parsed === undefined && text) throw new OperationError(`Kubernetes API ${this.description}: ${method} ${path}: response is not JSON`);
      return parsed as T;
    }
    if (parsed && parsed.kind === 'Status') {
      throw new KubeApiError(method, path, status, String(parsed.reason || httpReason(status)), String(parsed.message ?? ''), parsed);
    }
    throw new KubeApiError(method, path, status, httpReason(status), text.slice(0, 300).trim());
  }

  get<T = any>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, opts);
  }

  /** GET that returns undefined on 404. */
  async getOptional<T = any>(path: string, opts?: RequestOptions): Promise<T | undefined> {
    try {
      return await this.get<T>(path, opts);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Every item of a list, following `continue` tokens; items get the list's apiVersion and their kind. */
  async list(collectionPath: string, kind: string, groupVersion: string, opts: { signal?: AbortSignal; limit?: number } = {}): Promise<any[]> {
    const items: any[] = [];
    let cont: string | undefined;
    do {
      const page = await this.get(collectionPath, { query: { limit: opts.limit ?? 500, continue: cont }, signal: opts.signal });
      for (const it of page?.items ?? []) items.push({ apiVersion: groupVersion, kind, ...it });
      cont = page?.metadata?.continue || undefined;
    } while (cont);
    return items;
  }

  /** `gitVersion` from /version, or undefined when the server does not say. */
  async serverVersion(signal?: AbortSignal): Promise<string | undefined> {
    try {
      const v = await this.get('/version', { signal });
      return typeof v?.gitVersion === 'string' ? v.gitVersion : undefined;
    } catch (err) {
      if (err instanceof KubeApiError) return undefined;
      throw err;
    }
  }
}

/**
 * client-node v2 refuses an `http://` server unless the cluster has `insecure-skip-tls-verify`, while kubectl
 * accepts one (e.g. `kubectl proxy`, local test servers). There is no TLS to verify on plain HTTP, so for such
 * a server the flag is set on a copy of the config: requests then go out like kubectl's. HTTPS servers are
 * used exactly as configured.
 */
export function plainHttpConfig(kc: KubeConfig): KubeConfig {
  const cluster = kc.getCurrentCluster();
  if (!cluster || !cluster.server.startsWith('http:') || cluster.skipTLSVerify) return kc;
  const copy = new KubeConfig();
  copy.loadFromOptions({
    clusters: kc.getClusters().map((c) => (c.name === cluster.name ? { ...c, skipTLSVerify: true } : c)),
    users: kc.getUsers(),
    contexts: kc.getContexts(),
    currentContext: kc.getCurrentContext(),
  });
  return copy;
}

/** Masks passwords in any URL inside a message (`//user:pw@host` → `//user:***@host`). */
function scrubUrls(message: string): string {
  return message.replace(/\/\/([^/\s:@]*):[^@\s/]*@/g, '//$1:***@');
}

/** `/api/v1` or `/apis/apps/v1`. */
export function groupVersionPath(groupVersion: string): string {
  return groupVersion.includes('/') ? `/apis/${groupVersion}` : `/api/${groupVersion}`;
}

/** Collection path of a resource: namespaced (`…/namespaces/<ns>/<resource>`) or cluster-scoped. */
export function collectionPath(groupVersion: string, resource: string, namespace?: string): string {
  const base = groupVersionPath(groupVersion);
  return namespace ? `${base}/namespaces/${encodeURIComponent(namespace)}/${resource}` : `${base}/${resource}`;
}

export function objectPath(groupVersion: string, resource: string, name: string, namespace?: string): string {
  return `${collectionPath(groupVersion, resource, namespace)}/${encodeURIComponent(name)}`;
}

function httpReason(status: number): string {
  switch (status) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 405:
      return 'MethodNotAllowed';
    case 409:
      return 'Conflict';
    case 410:
      return 'Expired';
    case 422:
      return 'Invalid';
    case 429:
      return 'TooManyRequests';
    case 500:
      return 'InternalError';
    case 503:
      return 'ServiceUnavailable';
    case 504:
      return 'Timeout';
    default:
      return `HTTP${status}`;
  }
}
