#!/usr/bin/env node
// The README's test command: the whole jest suite on the native backend, the whole suite
// again on the TypeScript backend, then the C++ kernel tests through CMake and ctest.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');
const jest = require.resolve('jest/bin/jest');
const extra = process.argv.slice(2);

const steps = [
  { name: 'jest, native backend', cmd: process.execPath, args: [jest, ...extra], env: { CONVKIT_BACKEND: 'native' } },
  { name: 'jest, TypeScript backend', cmd: process.execPath, args: [jest, ...extra], env: { CONVKIT_BACKEND: 'js' } },
  { name: 'ctest, C++ kernels', cmd: process.execPath, args: [path.join(__dirname, 'ctest.js')], env: {} },
];

const failed = [];
for (const step of steps) {
  console.log(`\n=== ${step.name} ===`);
  const result = spawnSync(step.cmd, step.args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...step.env } });
  if (result.status !== 0) failed.push(step.name);
}
console.log(`\n=== ${steps.length - failed.length} passed, ${failed.length} failed ===`);
if (failed.length) {
  console.log(`failed: ${failed.join('; ')}`);
  process.exit(1);
}
