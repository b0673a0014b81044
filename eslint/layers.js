// The architecture's import rules, enforced by `npm run lint` (eslint.config.js):
//   layers: crypto, util ← config ← store ← repository ← sources ← engine, observe, schedule ← commands ← cli
//     a module imports only from its own layer or below;
//   sources: no source imports another (src/sources/<a>/ ↛ src/sources/<b>/); what several share lives in
//     src/sources/shared/ (which imports no source), and only src/sources/registry.ts lists them.
// Written here rather than taken from a plugin: the two rules are a few lines over the import's resolved path,
// and their messages can name the layering itself.
import { dirname, relative, resolve, sep } from 'node:path';

export const LAYERS = [
  ['crypto', 'util', 'version.ts', 'demo'],
  ['config'],
  ['store'],
  ['repository'],
  ['sources'],
  ['engine', 'observe', 'schedule'],
  ['commands'],
  ['cli.ts'],
];
const ORDER = 'crypto, util ← config ← store ← repository ← sources ← engine, observe, schedule ← commands ← cli';
const rankOf = new Map(LAYERS.flatMap((names, rank) => names.map((n) => [n, rank])));

/** The src/ top-level folder (or file) a path belongs to, and the rest of its path. */
function place(srcRoot, file) {
  const rel = relative(srcRoot, file);
  if (rel.startsWith('..')) return undefined;
  const parts = rel.split(sep);
  // Imports name the built file (`../version.js`): a top-level module is known by its source name.
  const top = parts.length === 1 ? parts[0].replace(/\.js$/, '.ts') : parts[0];
  return { top, parts };
}

function check(context, node, spec) {
  if (typeof spec !== 'string' || !spec.startsWith('.')) return;
  const file = context.filename;
  const srcRoot = resolve(context.cwd, 'src');
  const from = place(srcRoot, file);
  if (!from) return;
  const to = place(srcRoot, resolve(dirname(file), spec));
  if (!to) return;
  const fromRank = rankOf.get(from.top);
  const toRank = rankOf.get(to.top);
  if (fromRank === undefined || toRank === undefined) {
    context.report({ node, message: `layers: src/${from.parts.join('/')} imports src/${to.parts.join('/')}, and src/${fromRank === undefined ? from.top : to.top} is in no layer (add it to eslint/layers.js: ${ORDER})` });
    return;
  }
  if (toRank > fromRank) {
    context.report({
      node,
      message: `layers: src/${from.top} may not import src/${to.top} (${spec}): lower layers never import higher ones (${ORDER})`,
    });
    return;
  }
  if (from.top === 'sources' && to.top === 'sources') {
    const fromSource = from.parts.length > 2 ? from.parts[1] : undefined;
    const toSource = to.parts.length > 2 ? to.parts[1] : undefined;
    const toFile = to.parts[to.parts.length - 1];
    if (fromSource !== undefined && toSource === undefined && /^registry\.[jt]s$/.test(toFile)) {
      context.report({ node, message: `sources: src/sources/${fromSource} may not import the registry (${spec}): the registry imports the sources, not the other way round` });
    } else if (fromSource !== undefined && toSource !== undefined && fromSource !== toSource && toSource !== 'shared') {
      context.report({
        node,
        message: `sources: src/sources/${fromSource} may not import src/sources/${toSource} (${spec}): no source imports another; move what both need to src/sources/shared/`,
      });
    }
  }
}

const rule = {
  meta: { type: 'problem', docs: { description: 'enforce the layer order and source independence of src/' }, schema: [] },
  create(context) {
    return {
      ImportDeclaration: (node) => check(context, node.source, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(context, node.source, node.source.value),
      ExportAllDeclaration: (node) => check(context, node.source, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(context, node.source, node.source.value),
    };
  },
};

export default { rules: { imports: rule } };
