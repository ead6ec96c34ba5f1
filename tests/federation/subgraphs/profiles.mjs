// Stand-in "profiles" subgraph: owns Profile and its name, so federated
// queries can join our subgraph's Profile fields with data from elsewhere.
import { parse } from 'graphql';
import { buildSubgraphSchema } from '@apollo/subgraph';

export const name = 'profiles';

export const typeDefs = parse(`#graphql
  extend schema
    @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])

  type Profile @key(fields: "id") {
    id: ID!
    name: String!
  }

  type Query {
    profiles: [Profile!]!
    profile(id: ID!): Profile
    "The Authorization header of the request the gateway sent here (tests check forwarding)."
    forwardedAuthorization: String
  }
`);

// Fixed data: tests assert on these exact ids and names. Resolvers hand out
// copies because federation's entity resolution writes __typename onto them.
export const PROFILES = [
  { id: 'p1', name: 'Ada' },
  { id: 'p2', name: 'Grace' },
  { id: 'p3', name: 'Linus' },
];

const byId = (id) => {
  const found = PROFILES.find((p) => p.id === id);
  return found ? { ...found } : null;
};

export const resolvers = {
  Query: {
    profiles: () => PROFILES.map((p) => ({ ...p })),
    profile: (_parent, { id }) => byId(id),
    forwardedAuthorization: (_parent, _args, context) => context.authorization ?? null,
  },
  Profile: {
    // The gateway sends { __typename, id } representations from other subgraphs.
    __resolveReference: ({ id }) => byId(id),
  },
};

export const schema = () => buildSubgraphSchema({ typeDefs, resolvers });
