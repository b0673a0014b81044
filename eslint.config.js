import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import layers from './eslint/layers.js';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'backups/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  // src/ layering (eslint/layers.js): lower layers never import higher ones; no source imports another.
  { files: ['src/**/*.ts'], plugins: { layers }, rules: { 'layers/imports': 'error' } },
  { files: ['eslint/**/*.js'], languageOptions: { globals: { process: 'readonly' } } },
  { files: ['bin/**/*.js', 'scripts/**/*.mjs', 'bench/**/*.mjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly' } } },
);
