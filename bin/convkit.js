#!/usr/bin/env node
'use strict';
require('../dist/cli/index.js').main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`convkit: ${err && err.message ? err.message : err}`);
    process.exit(1);
  },
);
