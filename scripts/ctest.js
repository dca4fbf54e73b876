#!/usr/bin/env node
// Builds the CMake tree (the same addon through cmake-js, plus the C++ kernel tests) and
// runs ctest (unless --build-only). Exits non-zero when the build or any test fails.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const out = path.join(root, 'build-cmake');

function run(command, args, env = process.env) {
  console.log(`$ ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

// cmake-js takes Node's headers from npm's nodedir; point it at the running Node's own
// headers when they are installed beside it, so nothing is downloaded.
const env = { ...process.env };
const prefix = path.join(path.dirname(process.execPath), '..');
if (!env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  env.npm_config_nodedir = prefix;
}
const jobs = String(Math.max(1, require('os').availableParallelism?.() ?? require('os').cpus().length));
run(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), 'compile', '--out', out, '--parallel', jobs], env);
if (!process.argv.includes('--build-only')) run('ctest', ['--test-dir', out, '--output-on-failure']);
