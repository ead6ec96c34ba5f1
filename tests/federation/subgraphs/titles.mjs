// Stand-in "titles" subgraph: owns Title and its name, the other side of
// the joins our subgraph makes from playback events and counters.
import { parse } from 'graphql';
import { buildSubgraphSchema } from '@apollo/subgraph';

export const name = 'titles';

export const typeDefs = parse(`#graphql
  extend schema
    @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])

  type Title @key(fields: "id") {
    id: ID!
    name: String!
  }

  type Query {
    titles: [Title!]!
    title(id: ID!): Title
  }
`);

// Fixed data: tests assert on these exact ids and names. Resolvers hand out
// copies because federation's entity resolution writes __typename onto them.
export const TITLES = [
  { id: 't1', name: 'Arrival' },
  { id: 't2', name: 'Brazil' },
  { id: 't3', name: 'Casablanca' },
];

const byId = (id) => {
  const found = TITLES.find((t) => t.id === id);
  return found ? { ...found } : null;
};

export const resolvers = {
  Query: {
    titles: () => TITLES.map((t) => ({ ...t })),
    title: (_parent, { id }) => byId(id),
  },
  Title: {
    // The gateway sends { __typename, id } representations from other subgraphs.
    __resolveReference: ({ id }) => byId(id),
  },
};

export const schema = () => buildSubgraphSchema({ typeDefs, resolvers });
