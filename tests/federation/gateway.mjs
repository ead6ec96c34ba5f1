#!/usr/bin/env node
// Usage: node gateway.mjs --subgraph-url URL [--port N] [--wait SECONDS] [--exit-on-stdin-close]
//          [--subgraph-ca FILE] [--subgraph-cert FILE --subgraph-key FILE]
//
// Serves a local Apollo Gateway over three subgraphs: ours ("datagateway", at
// URL) and the in-process stand-ins "profiles" and "titles". When ready it
// prints one JSON line to stdout, {"url": ..., "subgraphs": {...}}, then runs
// until SIGTERM/SIGINT. Logs go to stderr so stdout stays machine-readable.
// Exit codes: 0 after a signal, 1 start-up failure, 2 composition failure.
//
// For an https URL, --subgraph-ca (PEM) is the CA to trust instead of the
// system's, and --subgraph-cert/--subgraph-key (PEM) the client certificate
// the gateway presents (mutual TLS). The incoming request's Authorization
// header is forwarded on every subgraph request, and so are its W3C trace
// context headers (traceparent, tracestate), as a router propagating traces
// does.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { parseArgs } from 'node:util';
import nodeFetch from 'node-fetch';
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
    ' [--exit-on-stdin-close] [--subgraph-ca FILE] [--subgraph-cert FILE --subgraph-key FILE]';
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'subgraph-url': { type: 'string' },
        port: { type: 'string', default: '0' },
        wait: { type: 'string', default: '30' },
        'exit-on-stdin-close': { type: 'boolean', default: false },
        'subgraph-ca': { type: 'string' },
        'subgraph-cert': { type: 'string' },
        'subgraph-key': { type: 'string' },
      },
    }));
  } catch (err) {
    throw new UsageError(`${err.message}\n${usage}`);
  }
  const port = Number(values.port);
  const wait = Number(values.wait);
  if (
    !values['subgraph-url'] ||
    !Number.isInteger(port) ||
    port < 0 ||
    !(wait >= 0) ||
    !values['subgraph-cert'] !== !values['subgraph-key']
  ) {
    throw new UsageError(usage);
  }
  return {
    subgraphUrl: values['subgraph-url'],
    port,
    waitMs: wait * 1000,
    exitOnStdinClose: values['exit-on-stdin-close'],
    tls: {
      ca: values['subgraph-ca'],
      cert: values['subgraph-cert'],
      key: values['subgraph-key'],
    },
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

// node-fetch with our own agents: like Node's built-in fetch it ignores
// HTTP(S)_PROXY, which must never apply to these loopback-only requests, and
// unlike it, takes an https.Agent carrying the CA and client certificate.
function subgraphFetcher({ ca, cert, key }) {
  const read = (option, file) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new StartupError(`--${option} ${file}: ${err.message}`);
    }
  };
  const tls = {};
  if (ca) tls.ca = read('subgraph-ca', ca);
  if (cert) tls.cert = read('subgraph-cert', cert);
  if (key) tls.key = read('subgraph-key', key);
  const agents = {
    'http:': new http.Agent({ keepAlive: true }),
    'https:': new https.Agent({ keepAlive: true, ...tls }),
  };
  const fetcher = (url, init = {}) =>
    nodeFetch(url, { ...init, agent: (parsed) => agents[parsed.protocol] });
  fetcher.destroy = () => Object.values(agents).forEach((agent) => agent.destroy());
  return fetcher;
}

// Every subgraph request carries the caller's Authorization header, so a
// subgraph that authenticates callers sees the caller, not the gateway, and
// the caller's trace context, so the subgraph's spans join the caller's trace.
const FORWARDED = ['authorization', 'traceparent', 'tracestate'];

class ForwardingDataSource extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    for (const name of FORWARDED) {
      if (context?.[name]) request.http.headers.set(name, context[name]);
    }
  }
}

// The context of an incoming request, for the gateway and the stand-ins alike.
const requestContext = async ({ req }) =>
  Object.fromEntries(FORWARDED.map((name) => [name, req.headers[name]]));

// The subgraph under test may still be booting when we start, so connection
// failures (and hung requests) are retried until the deadline; an answer that
// is not an SDL is final.
async function fetchSubgraphSdl(url, waitMs, fetcher) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    let response;
    try {
      response = await fetcher(url, {
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
  let fetcher;
  let stopping = false;
  const stopAll = async () => {
    for (const server of [...servers].reverse()) {
      await server.stop().catch((err) => log('warn', `stop: ${err.message}`));
    }
    fetcher?.destroy();
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
    fetcher = subgraphFetcher(options.tls);
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
      const { url } = await startStandaloneServer(server, {
        listen: { host: HOST, port: 0 },
        context: requestContext,
      });
      urls[standIn.name] = url;
    }
    urls[SUBGRAPH_NAME] = options.subgraphUrl;

    const sdl = await fetchSubgraphSdl(options.subgraphUrl, options.waitMs, fetcher);
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
      buildService: ({ url }) => new ForwardingDataSource({ url, fetcher }),
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
      context: requestContext,
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
