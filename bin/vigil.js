#!/usr/bin/env node
// The `vigil` command. The TypeScript sources are compiled to dist/ by `npm ci` (prepare) and by
// `npm start`/`npm test`; run `npm run build` after changing them.
import '../dist/gateway/src/cli.js';
