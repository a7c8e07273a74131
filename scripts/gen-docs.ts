// Regenerates the documents derived from code: docs/config.md. Run with `npm run docs`.
import fs from 'node:fs';
import { renderConfigDocs } from '../src/server/config-docs.js';

fs.writeFileSync('docs/config.md', renderConfigDocs());
console.log('wrote docs/config.md');
