#!/usr/bin/env node
// The `skaha` command: the built CLI (run `npm run build` first; scripts/setup.sh does).
import '../dist/cli/main.js';
