// Stand-in "accounts" subgraph: owns Account and its holder's name, so federated
// queries can join our subgraph's billing fields (invoices, balanceCents) with it.
import { parse } from 'graphql';
import { buildSubgraphSchema } from '@apollo/subgraph';

export const name = 'accounts';

export const typeDefs = parse(`#graphql
  extend schema
    @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])

  type Account @key(fields: "id") {
    id: ID!
    holder: String!
  }

  type Query {
    accounts: [Account!]!
    account(id: ID!): Account
  }
`);

// Fixed data: tests assert on these exact ids and names.
export const ACCOUNTS = [
  { id: 'a1', holder: 'Ada' },
  { id: 'a2', holder: 'Grace' },
];

const byId = (id) => {
  const found = ACCOUNTS.find((a) => a.id === id);
  return found ? { ...found } : null;
};

export const resolvers = {
  Query: {
    accounts: () => ACCOUNTS.map((a) => ({ ...a })),
    account: (_parent, { id }) => byId(id),
  },
  Account: {
    __resolveReference: ({ id }) => byId(id),
  },
};

export const schema = () => buildSubgraphSchema({ typeDefs, resolvers });
