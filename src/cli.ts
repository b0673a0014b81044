import { Command, CommanderError, Option } from 'commander';
import type { SourceName } from './config/schema.js';
import { SOURCES, SOURCE_NAMES } from './sources/registry.js';
import { backupSchedule } from './config/schedules.js';
import { EXIT_USAGE, UsageError, errorMessage, exitCodeOf } from './util/errors.js';
import { TOOL_VERSION } from './version.js';
import { loadEnv, parseList, parseOutput, type GlobalOptions } from './commands/common.js';

// Commands are loaded when run: a backup should not pay for the Kubernetes client's memory unless it uses it.
type AsyncFn = (...args: any[]) => Promise<any>;
function lazy<M extends Record<K, AsyncFn>, K extends keyof M>(load: () => Promise<M>, name: K): M[K] {
  return (async (...args: unknown[]) => (await load())[name](...args)) as M[K];
}
const catalog = () => import('./commands/catalog.js');
const drill = () => import('./commands/drill.js');
const keygenCommand = lazy(() => import('./commands/keygen.js'), 'keygenCommand');
const backupCommand = lazy(() => import('./commands/backup.js'), 'backupCommand');
const listCommand = lazy(catalog, 'listCommand');
const showCommand = lazy(catalog, 'showCommand');
const verifyCommand = lazy(catalog, 'verifyCommand');
const pruneCommand = lazy(catalog, 'pruneCommand');
const deleteCommand = lazy(() => import('./commands/delete.js'), 'deleteCommand');
const restoreCommand = lazy(() => import('./commands/restore.js'), 'restoreCommand');
const drillCommand = lazy(drill, 'drillCommand');
const scheduledDrill = lazy(drill, 'scheduledDrill');
const scheduleCommand = lazy(() => import('./commands/schedule.js'), 'scheduleCommand');
const walArchiveCommand = lazy(() => import('./commands/wal-archive.js'), 'walArchiveCommand');
const checkCommand = lazy(() => import('./commands/check.js'), 'checkCommand');
const logsCommand = lazy(() => import('./commands/logs.js'), 'logsCommand');

function buildProgram(run: (p: Promise<number>) => void): Command {
  const program = new Command('gushen-dr')
    .description('Backup, restore and recovery drills for the GuShen platform')
    .version(TOOL_VERSION)
    .option('--config <file>', 'config file (default: $GUSHEN_DR_CONFIG, else ./gushen-dr.yaml)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'))
    .exitOverride()
    .showHelpAfterError();
  const g = (): GlobalOptions => {
    const o = program.opts<{ config?: string; output: string; logLevel: GlobalOptions['logLevel'] }>();
    return { config: o.config, output: parseOutput(o.output), logLevel: o.logLevel };
  };

  program
    .command('keygen')
    .description('write a new age identity (0600) and print its public recipient; --signing: a manifest signing key instead')
    .requiredOption('--out <file>', 'private key file to create (never overwritten)')
    .option('--recipient-out <file>', 'also write the age recipient to this file')
    .option('--signing', 'an Ed25519 manifest signing key (PKCS#8 PEM) for signing.keyFile')
    .option('--public-out <file>', 'with --signing: also write the public key (PEM) to this file')
    .action((o: { out: string; recipientOut?: string; signing?: boolean; publicOut?: string }) => run(keygenCommand(o)));

  program
    .command('backup')
    .description('back up every configured source into one verified backup set')
    .option('--schedule <name>', 'manual, nightly, monthly or a schedule named in the config (its `only` applies unless --only is given)', 'manual')
    .option('--only <sources>', `comma-separated subset of ${SOURCE_NAMES.join(',')}`)
    .action((o: { schedule: string; only?: string }) =>
      run(
        loadEnv(g()).then((env) => {
          const only = parseList<SourceName>(o.only, SOURCE_NAMES, '--only');
          const schedule = backupSchedule(env.config, o.schedule);
          return backupCommand(env, { schedule: schedule.name, only: only ?? schedule.only });
        }),
      ),
    );

  program
    .command('check')
    .description('preflight: store, keys, scratch space and every source, for a backup (default), restore or drill; exit 1 when a check fails')
    .addOption(new Option('--for <command>', 'whose needs to check').choices(['backup', 'restore', 'drill']).default('backup'))
    .option('--only <sources>', `comma-separated subset of ${SOURCE_NAMES.join(',')}`)
    .option('--identity <file>', 'age identity file (default: encryption.identityFile)')
    .option('--scratch-dir <dir>', 'where a restore or drill would stage decrypted data')
    .action((o: { for: 'backup' | 'restore' | 'drill'; only?: string; identity?: string; scratchDir?: string }) =>
      run(loadEnv(g()).then((env) => checkCommand(env, { for: o.for, only: parseList<SourceName>(o.only, SOURCE_NAMES, '--only'), identity: o.identity, scratchDir: o.scratchDir }))),
    );

  program.command('list').description('list backups, incomplete ones included').action(() => run(loadEnv(g()).then(listCommand)));

  program
    .command('show <backup>')
    .description('show a backup manifest (<id> or latest)')
    .action((ref: string) => run(loadEnv(g()).then((env) => showCommand(env, ref))));

  program
    .command('logs <backup>')
    .description("print a backup run's own log (<id> or latest), stored with it; -o json: the JSON lines")
    .action((ref: string) => run(loadEnv(g()).then((env) => logsCommand(env, ref))));

  program
    .command('verify [backup]')
    .description('check presence, sizes and checksums; --deep decrypts and checks each artifact; --wal checks the archived WAL (PITR)')
    .option('--deep', 'decrypt and run each source check (needs the identity)')
    .option('--wal', 'check the archived WAL is continuous from every retained base backup (with or without a backup)')
    .option('--identity <file>', 'age identity file (default: encryption.identityFile)')
    .option('--scratch-dir <dir>', 'where to stage decrypted data')
    .action((ref: string | undefined, o: { deep?: boolean; identity?: string; scratchDir?: string; wal?: boolean }) => run(loadEnv(g()).then((env) => verifyCommand(env, ref, o))));

  const restore = program
    .command('restore <backup>')
    .description('restore a backup (<id> or latest), whole or in parts')
    .option('--only <sources>', `comma-separated subset of ${SOURCE_NAMES.join(',')}`)
    .option('--identity <file>', 'age identity file (default: encryption.identityFile)')
    .option('--scratch-dir <dir>', 'where to stage decrypted data (default: the OS temp dir)')
    .option('--force', 'overwrite a target that already holds data')
    .option('--dry-run', 'print the plan of every part and change nothing');
  // Each source adds its own flags (src/sources/<name>/index.ts).
  for (const s of SOURCES) {
    for (const f of s.restoreFlags) restore.option(f.flags, `${f.description} [${s.name}]`, f.default as string | boolean | undefined);
  }
  restore.action((ref: string, o: Record<string, any>) =>
    run(loadEnv(g()).then((env) => restoreCommand(env, ref, { ...o, only: parseList<SourceName>(o.only, SOURCE_NAMES, '--only') }))),
  );

  program
    .command('drill')
    .description('restore the latest backup into a scratch environment, check it, report RTO/RPO, clean up')
    .option('--backup <backup>', 'backup to drill (<id> or latest)', 'latest')
    .option('--keep', 'keep the scratch environment')
    .option('--keep-on-failure', 'keep the scratch environment when a check fails')
    .option('--list', 'list past drill reports')
    .option('--identity <file>', 'age identity file (default: encryption.identityFile)')
    .option(
      '--namespace <ns>',
      'create this scratch namespace and delete it afterwards (needs the right to create namespaces), instead of emptying the standing drill.namespace, or creating <drill.namespacePrefix><date> when that is unset',
    )
    .action((o: { backup: string; keep?: boolean; keepOnFailure?: boolean; list?: boolean; identity?: string; namespace?: string }) =>
      run(loadEnv(g()).then((env) => drillCommand(env, o))),
    );

  program
    .command('prune')
    .description('apply retention: keep the newest Completed backups per schedule, delete old failed ones')
    .option('--dry-run', 'print what would be deleted')
    .action((o: { dryRun?: boolean }) => run(loadEnv(g()).then((env) => pruneCommand(env, o))));

  program
    .command('delete <backup>')
    .description('delete one backup (manifest first); asks on a terminal, else needs --yes')
    .option('--yes', 'do not ask (needed without a terminal)')
    .option('--force', 'also delete the newest Completed copy of a source, or a backup whose manifest cannot be read')
    .option('--dry-run', 'print what would be deleted')
    .action((id: string, o: { yes?: boolean; force?: boolean; dryRun?: boolean }) => run(loadEnv(g()).then((env) => deleteCommand(env, id, o))));

  program
    .command('schedule')
    .description('run backups and drills on the configured schedules (for hosts without Kubernetes)')
    .option('--listen <host:port>', 'address of /healthz and /metrics (default: schedules.listen)')
    .action((o: { listen?: string }) => run(loadEnv(g()).then((env) => scheduleCommand(env, { listen: o.listen, drill: scheduledDrill }))));

  program
    .command('wal-archive')
    .description('stream PostgreSQL WAL into the store for point-in-time recovery (long-running; /healthz and /metrics)')
    .option('--slot <name>', 'physical replication slot (default: sources.postgres.pitr.slot)')
    .option('--no-create-slot', 'fail when the slot is missing instead of creating it (created by default, if not exists)')
    .option('--listen <host:port>', 'address of /healthz and /metrics (default: sources.postgres.pitr.listen)')
    .action((o: { slot?: string; createSlot?: boolean; listen?: string }) => run(loadEnv(g()).then((env) => walArchiveCommand(env, o))));

  return program;
}

/** Parses argv, runs one command, and resolves with its exit code. */
export async function runCli(argv: string[]): Promise<number> {
  let pending: Promise<number> | undefined;
  const program = buildProgram((p) => {
    pending = p;
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    throw err;
  }
  if (!pending) return 0;
  try {
    return await pending;
  } catch (err) {
    process.stderr.write(`gushen-dr: ${errorMessage(err)}\n`);
    return err instanceof UsageError ? EXIT_USAGE : exitCodeOf(err);
  }
}

export async function main(argv: string[]): Promise<void> {
  const code = await runCli(argv);
  process.exitCode = code;
  // Child processes and sockets are closed by their owners; exit so a stray handle never hangs a CronJob.
  setTimeout(() => process.exit(code), 200).unref();
}
