// The graphql-js peer of bench/graphql_exec.py, driven over stdin/stdout (one JSON per line).
//
// First line in: { sdl, query, variables, data }: the subgraph of subgraph.mjs (our SDL, resolvers
// that mirror ours, the prepared data).  It answers { ready, versions, results }.
//
// Then { op: "time", mode, warmup, samples } answers { samples_ms } (one request per sample;
// mode "execute" is graphql-js execute on a document parsed and validated once, as a server's
// document cache would hold it; mode "apollo" is ApolloServer.executeOperation, the whole
// request pipeline); { op: "cpu", mode, warmup, samples } answers { cpu_ms_per_run } (the
// process's CPU time, user + system, over the samples); { op: "quit" } ends the process.
import { createInterface } from 'node:readline';

import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { execute, parse, validate } from 'graphql';

import { subgraph, versions } from './subgraph.mjs';

async function main() {
  // stdout carries the protocol; libraries' console.log goes to stderr.
  console.log = console.error;
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const send = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
  const setup = JSON.parse((await lines.next()).value);

  const { schema, context } = subgraph(setup.sdl, setup.data);
  const document = parse(setup.query);
  const errors = validate(schema, document);
  if (errors.length) throw new Error(`the query does not validate: ${errors[0].message}`);
  const variableValues = setup.variables;

  // Inline tracing only answers a gateway that asks for it; off, so it cannot cost anything.
  const server = new ApolloServer({
    schema,
    includeStacktraceInErrorResponses: false,
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  await server.start();

  const runs = {
    execute: () =>
      execute({ schema, document, variableValues, contextValue: context() }),
    apollo: async () => {
      const response = await server.executeOperation(
        { query: setup.query, variables: variableValues },
        { contextValue: context() },
      );
      return response.body.singleResult;
    },
  };
  const results = {};
  for (const [mode, run] of Object.entries(runs)) results[mode] = await run();
  send({ ready: true, versions: versions(), results });

  for (;;) {
    const next = await lines.next();
    if (next.done) break;
    const cmd = JSON.parse(next.value);
    if (cmd.op === 'quit') break;
    const run = runs[cmd.mode];
    for (let i = 0; i < cmd.warmup; i++) await run();
    if (cmd.op === 'cpu') {
      const before = process.cpuUsage();
      for (let i = 0; i < cmd.samples; i++) await run();
      const used = process.cpuUsage(before);
      send({ cpu_ms_per_run: (used.user + used.system) / 1000 / cmd.samples });
      continue;
    }
    const samples = [];
    for (let i = 0; i < cmd.samples; i++) {
      const t0 = process.hrtime.bigint();
      const result = await run();
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (result.errors) throw new Error(`the query failed: ${result.errors[0].message}`);
    }
    send({ samples_ms: samples });
  }
  await server.stop();
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
