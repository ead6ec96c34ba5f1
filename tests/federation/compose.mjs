#!/usr/bin/env node
// Usage: node compose.mjs [SDL_FILE]   (reads stdin without a file or with "-")
// Prints {"ok": true, "supergraphSdl": ..., "hints": [...]} and exits 0, or
// {"ok": false, "errors": [...]} and exits 1. Exit 2 means bad usage or I/O.
import { readFileSync } from 'node:fs';
import { composeSupergraph } from './supergraph.mjs';

const args = process.argv.slice(2);
if (args.length > 1 || args[0] === '-h' || args[0] === '--help') {
  process.stderr.write('usage: node compose.mjs [SDL_FILE | -]\n');
  process.exit(2);
}

let sdl;
try {
  // File descriptor 0 reads all of stdin synchronously, pipes included.
  sdl = readFileSync(args[0] && args[0] !== '-' ? args[0] : 0, 'utf8');
} catch (err) {
  process.stderr.write(`compose.mjs: cannot read SDL: ${err.message}\n`);
  process.exit(2);
}

const result = composeSupergraph(sdl);
// process.exitCode rather than exit(): lets a large JSON finish flushing to a pipe.
process.stdout.write(JSON.stringify(result) + '\n');
process.exitCode = result.ok ? 0 : 1;
