#!/usr/bin/env node
// Usage: node gateway.mjs --subgraph-url URL [--port N] [--wait SECONDS] [--exit-on-stdin-close]
//
// Serves a local Apollo Gateway over three subgraphs: ours ("datagateway", at
// URL) and the in-process stand-ins "profiles" and "titles". When ready it
// prints one JSON line to stdout, {"url": ..., "subgraphs": {...}}, then runs
// until SIGTERM/SIGINT. Logs go to stderr so stdout stays machine-readable.
// Exit codes: 0 after a signal, 1 start-up failure, 2 composition failure.
import { parseArgs } from 'node:util';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { composeSupergraph, STAND_INS, SUBGRAPH_NAME } from './supergraph.mjs';

const HOST = '127.0.0.1';

// Never talk to Apollo's cloud (usage or schema reporting), even if the
// environment running the tests happens to carry a graph key.
for (const key of Object.keys(process.env)) {
  if (key.startsWith('APOLLO_')) delete process.env[key];
}

const log = (level, message) => process.stderr.write(`[gateway.mjs] ${level}: ${message}\n`);
const logger = {
  debug: () => {},
  info: (m) => log('info', m),
  warn: (m) => log('warn', m),
  error: (m) => log('error', m),
};

// Expected failures: reported by message alone, without a stack trace.
class UsageError extends Error {}
class StartupError extends Error {}

function parseCommandLine() {
  const usage =
    'usage: node gateway.mjs --subgraph-url URL [--port N] [--wait SECONDS]' +
    ' [--exit-on-stdin-close]';
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'subgraph-url': { type: 'string' },
        port: { type: 'string', default: '0' },
        wait: { type: 'string', default: '30' },
        'exit-on-stdin-close': { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError(`${err.message}\n${usage}`);
  }
  const port = Number(values.port);
  const wait = Number(values.wait);
  if (!values['subgraph-url'] || !Number.isInteger(port) || port < 0 || !(wait >= 0)) {
    throw new UsageError(usage);
  }
  return {
    subgraphUrl: values['subgraph-url'],
    port,
    waitMs: wait * 1000,
    exitOnStdinClose: values['exit-on-stdin-close'],
  };
}

// @apollo/gateway refuses a supergraph linking a feature "for: SECURITY" it
// cannot enforce (@authenticated, @requiresScopes: only Apollo Router does).
// The subgraph enforces the same rules itself, so this test gateway drops the
// purpose and serves the supergraph; it forwards the caller's token instead.
const SECURITY_LINK = /(@link\(url: "https:\/\/specs\.apollo\.dev\/(?:authenticated|requiresScopes)\/v[0-9.]+"), for: SECURITY\)/g;
export function servableByGateway(supergraphSdl) {
  return supergraphSdl.replace(SECURITY_LINK, '$1)');
}

// The subgraph under test may still be booting when we start, so connection
// failures (and hung requests) are retried until the deadline; an answer that
// is not an SDL is final.
async function fetchSubgraphSdl(url, waitMs) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    let response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ query: '{ _service { sdl } }' }),
        signal: AbortSignal.timeout(Math.max(1000, deadline - Date.now())),
      });
    } catch (err) {
      if (Date.now() >= deadline) {
        throw new StartupError(`cannot reach ${url}: ${err.cause?.message ?? err.message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
      continue;
    }
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      throw new StartupError(
        `${url} answered HTTP ${response.status} with non-JSON: ${text.slice(0, 500)}`,
      );
    }
    const sdl = body?.data?._service?.sdl;
    if (typeof sdl !== 'string') {
      throw new StartupError(
        `${url} returned no _service.sdl (HTTP ${response.status}): ${text.slice(0, 500)}`,
      );
    }
    return sdl;
  }
}

const describe = (err) =>
  err instanceof UsageError || err instanceof StartupError
    ? err.message
    : (err?.stack ?? String(err));

async function main() {
  const options = parseCommandLine();
  // Servers are stopped in reverse start order on exit.
  const servers = [];
  let stopping = false;
  const stopAll = async () => {
    for (const server of [...servers].reverse()) {
      await server.stop().catch((err) => log('warn', `stop: ${err.message}`));
    }
  };
  const shutdown = async (why) => {
    if (stopping) return;
    stopping = true;
    log('info', `${why}: shutting down`);
    await stopAll();
    process.exit(0);
  };
  // Registered first so a signal during start-up still cleans up; the
  // servers' own signal handlers are off so that this one order applies.
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  if (options.exitOnStdinClose) {
    // Lets the parent (the pytest harness) die without leaking this process.
    process.stdin.on('end', () => shutdown('stdin closed'));
    process.stdin.on('error', () => shutdown('stdin error'));
    process.stdin.resume();
  }

  try {
    const urls = {};
    for (const standIn of STAND_INS) {
      const server = new ApolloServer({
        schema: standIn.schema(),
        logger,
        stopOnTerminationSignals: false,
        // Traces are only useful with Apollo's cloud reporting, which is off.
        plugins: [ApolloServerPluginInlineTraceDisabled()],
      });
      servers.push(server);
      const { url } = await startStandaloneServer(server, { listen: { host: HOST, port: 0 } });
      urls[standIn.name] = url;
    }
    urls[SUBGRAPH_NAME] = options.subgraphUrl;

    const sdl = await fetchSubgraphSdl(options.subgraphUrl, options.waitMs);
    const composed = composeSupergraph(sdl, urls);
    if (!composed.ok) {
      log('error', 'composition failed:');
      for (const message of composed.errors) process.stderr.write(`  - ${message}\n`);
      await stopAll();
      process.exit(2);
    }
    for (const hint of composed.hints) log('info', `composition hint: ${hint}`);

    const gateway = new ApolloGateway({
      supergraphSdl: servableByGateway(composed.supergraphSdl),
      logger,
      // Node's built-in fetch for subgraph calls: it ignores HTTP(S)_PROXY,
      // which must never apply to these loopback-only requests.
      buildService: ({ url }) => new RemoteGraphQLDataSource({ url, fetcher: fetch }),
    });
    const server = new ApolloServer({
      gateway,
      logger,
      introspection: true,
      stopOnTerminationSignals: false,
    });
    servers.push(server);
    const { url } = await startStandaloneServer(server, {
      listen: { host: HOST, port: options.port },
    });

    process.stdout.write(JSON.stringify({ url, subgraphs: urls }) + '\n');
  } catch (err) {
    log('error', describe(err));
    await stopAll();
    process.exit(1);
  }
}

main().catch((err) => {
  log('error', describe(err));
  process.exit(1);
});
