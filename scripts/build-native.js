#!/usr/bin/env node
// npm's install step: build the addon with node-gyp, but never fail the install. Without
// the addon convkit runs on its TypeScript backend and says so once, with this reason.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

if (process.env.CONVKIT_SKIP_NATIVE === '1') {
  console.warn('convkit: CONVKIT_SKIP_NATIVE=1, not building the native addon; the TypeScript backend will be used');
  process.exit(0);
}
let nodeGyp;
try {
  nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
} catch {
  console.warn('convkit: node-gyp is not installed; skipping the native addon (the TypeScript backend will be used)');
  process.exit(0);
}
// Build against the headers of the running Node when they are installed beside it, so an
// offline machine never needs to download them.
const args = [nodeGyp, 'rebuild'];
const prefix = path.join(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
const result = spawnSync(process.execPath, args, {
  cwd: path.join(__dirname, '..'),
  stdio: 'inherit',
});
if (result.status !== 0) {
  console.warn(
    'convkit: the native addon failed to build; convkit will run on its (slower) TypeScript backend.\n' +
      'convkit: to build it, install python3, make and a C++17 compiler, then run `npm rebuild convkit`.',
  );
}
process.exit(0);
