// Apollo Server 5 over HTTP (startStandaloneServer), the peer of bench/http_apollo.py: the
// subgraph of subgraph.mjs (our SDL through @apollo/subgraph's buildSubgraphSchema, resolvers
// that mirror ours, the prepared data), one Node process.
//
// node server.mjs SETUP PORT: SETUP is a JSON file { sdl, data }.  It listens on 127.0.0.1:PORT
// and prints one line, { ready, url, versions }, once it does; SIGTERM stops it (Apollo's own
// handler drains it first).
import { readFileSync } from 'node:fs';

import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';

import { subgraph, versions } from './subgraph.mjs';

const [setupFile, port] = process.argv.slice(2);
const setup = JSON.parse(readFileSync(setupFile, 'utf8'));
const { schema, context } = subgraph(setup.sdl, setup.data);

// Inline tracing only answers a router that asks for it; off, so it cannot cost anything.
const server = new ApolloServer({
  schema,
  includeStacktraceInErrorResponses: false,
  plugins: [ApolloServerPluginInlineTraceDisabled()],
});
const { url } = await startStandaloneServer(server, {
  listen: { host: '127.0.0.1', port: Number(port) },
  context: async () => context(),
});
process.stdout.write(`${JSON.stringify({ ready: true, url, versions: versions() })}\n`);
