/**
 * Runs the emulator as a process:
 *   npm run emulator -- --port 6443 [--fixture gushen|empty] [--kubeconfig FILE] [--ready-delay-ms N] [--verbose]
 *     [--rbac [--service-account NS/NAME=FILE ...]] [--audit-log FILE]
 * Exec requests run the command locally (`sh -c`), so `kubectl exec` works against any pod.
 * `--rbac` serves HTTPS and enforces authentication and RBAC; `--service-account` writes a kubeconfig
 * for that ServiceAccount (its token is valid once the ServiceAccount exists).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startKubeEmulator, type ExecHandler, type FixtureName } from './index.js';

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

const localShell: ExecHandler = (req) => ({ command: 'sh', args: ['-c', req.command.map(shellQuote).join(' ')] });

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      fixture: { type: 'string', default: 'gushen' },
      kubeconfig: { type: 'string' },
      'ready-delay-ms': { type: 'string', default: '0' },
      verbose: { type: 'boolean', default: false },
      rbac: { type: 'boolean', default: false },
      'audit-log': { type: 'string' },
      'service-account': { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run emulator -- [--port N] [--fixture gushen|empty] [--kubeconfig FILE] [--ready-delay-ms N] [--verbose]');
    console.log('         [--rbac [--service-account NS/NAME=FILE ...]] [--audit-log FILE]');
    return;
  }
  const fixture = values.fixture as FixtureName;
  if (fixture !== 'gushen' && fixture !== 'empty') throw new Error(`unknown fixture "${values.fixture}" (gushen|empty)`);
  const emulator = await startKubeEmulator({
    port: Number(values.port),
    fixture,
    readyDelayMs: Number(values['ready-delay-ms']),
    execHandler: localShell,
    log: values.verbose ? (line) => console.log(line) : undefined,
    rbac: values.rbac,
    auditLogFile: values['audit-log'],
  });
  const kubeconfig = values.kubeconfig ?? join(tmpdir(), `kube-emulator-${new URL(emulator.url).port}.yaml`);
  const ns = fixture === 'gushen' ? 'ai-qtrd' : 'default';
  await emulator.writeKubeconfig(kubeconfig, ns);
  console.log(`Kubernetes API emulator listening on ${emulator.url} (fixture: ${fixture})`);
  console.log(`kubeconfig written to ${kubeconfig} (context "emulator"${values.rbac ? ', admin' : ''})`);
  for (const spec of values['service-account']) {
    const m = /^([^/=]+)\/([^/=]+)=(.+)$/.exec(spec);
    if (!m) throw new Error(`--service-account wants NS/NAME=FILE, got "${spec}"`);
    if (!values.rbac) throw new Error('--service-account needs --rbac');
    await emulator.writeKubeconfig(m[3]!, m[1], { token: emulator.serviceAccountToken(m[1]!, m[2]!) });
    console.log(`kubeconfig for system:serviceaccount:${m[1]!}:${m[2]!} written to ${m[3]!}`);
  }
  if (values.rbac) console.log('RBAC is enforced (HTTPS, bearer tokens).');
  if (values['audit-log']) console.log(`audit log: ${values['audit-log']} (JSON lines)`);
  console.log('');
  console.log('Try:');
  console.log(`  KUBECONFIG=${kubeconfig} kubectl get all -n ${ns}`);
  if (fixture === 'gushen') console.log(`  KUBECONFIG=${kubeconfig} kubectl exec -n ai-qtrd redis-0 -- uname -a   # runs locally`);
  console.log('');
  console.log('Ctrl-C to stop.');
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping`);
    void emulator.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
