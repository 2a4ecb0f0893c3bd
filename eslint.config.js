// Lint rules, including the architecture's import boundaries (../shared/STYLE.md):
// arrows point inward; core knows no transport or driver; client and ui never reach into the server side.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import importX from 'eslint-plugin-import-x'

const transports = [
  'fastify',
  '@fastify/*',
  'pg',
  'ws',
  'node:http',
  'node:https',
  'node:sqlite',
  'pino',
  'commander',
]

/** @param {string[]} folders */
const forbidFolders = (folders) =>
  folders.flatMap((folder) => [`**/${folder}/*`, `../${folder}/*`, `../../${folder}/*`])

export default tseslint.config(
  { ignores: ['node_modules/**', 'ui/dist/**', '.harmonia/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-eval': 'error',
      'no-new-func': 'error',
      'no-implied-eval': 'error',
      'import-x/no-cycle': ['error', { maxDepth: 8 }],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: transports,
          patterns: forbidFolders([
            'storage',
            'api',
            'cli',
            'client',
            'components',
            'triggers',
            'templates',
            'llm',
          ]),
        },
      ],
    },
  },
  {
    files: ['src/storage/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: forbidFolders(['api', 'cli', 'client', 'components', 'triggers', 'templates', 'llm']) },
      ],
    },
  },
  {
    files: ['src/client/**/*.ts', 'ui/src/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: transports,
          patterns: forbidFolders([
            'core',
            'storage',
            'api',
            'cli',
            'components',
            'triggers',
            'templates',
            'llm',
          ]),
        },
      ],
    },
  },
  // The import resolver cannot read Vite's package; these two files only import Vite and its plugin.
  { files: ['ui/vite.config.ts', 'scripts/build-ui.ts'], rules: { 'import-x/no-cycle': 'off' } },
  {
    files: [
      'src/components/**/*.ts',
      'src/triggers/**/*.ts',
      'src/templates/**/*.ts',
      'src/llm/**/*.ts',
      'src/mcp/**/*.ts',
    ],
    rules: { 'no-restricted-imports': ['error', { patterns: forbidFolders(['api', 'cli']) }] },
  },
)
