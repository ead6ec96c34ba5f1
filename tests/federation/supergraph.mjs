// Shared by compose.mjs and gateway.mjs: composes our subgraph with the
// stand-in subgraphs, so both tools see exactly the same supergraph.
import { parse } from 'graphql';
import { composeServices } from '@apollo/composition';
import * as accounts from './subgraphs/accounts.mjs';
import * as profiles from './subgraphs/profiles.mjs';
import * as titles from './subgraphs/titles.mjs';

// The name our subgraph gets in the supergraph (it shows up in join__Graph).
export const SUBGRAPH_NAME = 'datagateway';

export const STAND_INS = [profiles, titles, accounts];

/**
 * @param {string} sdl our subgraph's SDL, as returned by `{ _service { sdl } }`
 * @param {Record<string, string>} urls routing URL per subgraph name; composition
 *   only copies them into the supergraph, so placeholders do when nothing is served
 * @returns {{ok: true, supergraphSdl: string, hints: string[]} | {ok: false, errors: string[]}}
 */
export function composeSupergraph(sdl, urls = {}) {
  let typeDefs;
  try {
    typeDefs = parse(sdl);
  } catch (err) {
    return { ok: false, errors: [`[${SUBGRAPH_NAME}] ${err.message}`] };
  }
  const urlOf = (name) => urls[name] ?? `http://${name}.invalid/graphql`;
  const services = [
    { name: SUBGRAPH_NAME, url: urlOf(SUBGRAPH_NAME), typeDefs },
    ...STAND_INS.map((s) => ({ name: s.name, url: urlOf(s.name), typeDefs: s.typeDefs })),
  ];
  const result = composeServices(services);
  if (result.errors) {
    return { ok: false, errors: result.errors.map((e) => e.message) };
  }
  return {
    ok: true,
    supergraphSdl: result.supergraphSdl,
    hints: result.hints.map((h) => h.toString()),
  };
}
