// The subgraph of the Node peers (peer.mjs in-process, server.mjs over HTTP): our SDL, resolvers
// that mirror ours, the stand-in abstractions holding the prepared data, per-request loaders.
//
// The SDL is our subgraph's own (printed by strawberry), minus the federation fields that
// buildSubgraphSchema adds itself; __resolveReference builds a bare entity, viewingHistory and
// playCount go through per-request DataLoaders whose batch functions group keys by query shape
// and call a stand-in abstraction that returns the prepared pages, and each event becomes a
// PlaybackEvent the way PlaybackEvent.from_record builds one.
import { readFileSync } from 'node:fs';

import { buildSubgraphSchema } from '@apollo/subgraph';
import DataLoader from 'dataloader';
import { Kind, parse } from 'graphql';

const FEDERATION_TYPES = new Set(['_Any', '_Entity', '_Service']);
const FEDERATION_FIELDS = new Set(['_entities', '_service']);
const MAX_FIRST = 100;

function subgraphTypeDefs(sdl) {
  const doc = parse(sdl);
  const definitions = doc.definitions
    .filter((d) => !(d.name && FEDERATION_TYPES.has(d.name.value)))
    .map((d) =>
      d.kind === Kind.OBJECT_TYPE_DEFINITION && d.name.value === 'Query'
        ? { ...d, fields: d.fields.filter((f) => !FEDERATION_FIELDS.has(f.name.value)) }
        : d,
    );
  return { ...doc, definitions };
}

// --- the stand-in abstractions: prepared pages and counts, as bench/doubles.py holds them ----

function prepare(data) {
  const pages = new Map();
  for (const [id, page] of Object.entries(data.pages)) {
    pages.set(id, {
      events: page.events.map((e) => ({
        seriesId: e.series_id,
        eventTime: e.event_time,
        eventId: e.event_id,
        items: new Map(Object.entries(e.items).map(([k, v]) => [k, Buffer.from(v)])),
      })),
      cursors: page.cursors,
      nextPageToken: page.next_page_token,
    });
  }
  return { pages, counts: new Map(Object.entries(data.counts)) };
}

function gatewayOf(data) {
  return {
    timeseries: {
      async readEventsMany(_namespace, ids) {
        const out = new Map();
        for (const id of ids) out.set(id, data.pages.get(id) ?? { events: [], cursors: [] });
        return out;
      },
    },
    counters: {
      async getMany(_namespace, names) {
        const out = new Map();
        for (const name of names) out.set(name, data.counts.get(name) ?? 0);
        return out;
      },
    },
  };
}

// --- per-request loaders, as subgraph/loaders.py ------------------------------------------

function grouped(keys) {
  const groups = new Map();
  for (const key of keys) {
    let ids = groups.get(key.shape);
    if (ids === undefined) groups.set(key.shape, (ids = []));
    ids.push(key.id);
  }
  return groups;
}

async function settle(keys, fetch) {
  const groups = grouped(keys);
  const shapes = [...groups.keys()];
  const results = await Promise.allSettled(shapes.map((s) => fetch(s, groups.get(s))));
  const byShape = new Map(shapes.map((s, i) => [s, results[i]]));
  return keys.map(({ id, shape }) => {
    const r = byShape.get(shape);
    return r.status === 'rejected' ? r.reason : r.value.get(id);
  });
}

function loaders(gateway) {
  const cacheKeyFn = (k) => `${k.id}\u0000${k.shape}`;
  return {
    series: new DataLoader(
      (keys) =>
        settle(keys, (shape, ids) => {
          const q = JSON.parse(shape);
          return gateway.timeseries.readEventsMany(q.namespace, ids, q);
        }),
      { cacheKeyFn },
    ),
    counts: new DataLoader(
      (keys) => settle(keys, (namespace, names) => gateway.counters.getMany(namespace, names)),
      { cacheKeyFn },
    ),
  };
}

// --- resolvers, as subgraph/resolvers/playback.py and PlaybackEvent.from_record ------------

const int = (raw) => {
  const n = raw === undefined ? 0 : Number.parseInt(raw.toString(), 10);
  return Number.isNaN(n) ? 0 : n;
};

function playbackEvent(event) {
  const items = event.items;
  const device = items.get('device');
  const raw = `${event.eventTime}:${event.eventId}:${event.seriesId}`;
  return {
    id: Buffer.from(raw).toString('base64url'),
    profile: { id: event.seriesId },
    title: { id: (items.get('title_id') ?? Buffer.alloc(0)).toString() },
    startedAt: event.eventTime,
    positionSeconds: int(items.get('position_seconds')),
    durationSeconds: int(items.get('duration_seconds')),
    device: device === undefined ? null : device.toString(),
  };
}

// Python's datetime.isoformat() of an aware UTC datetime, from microseconds since the epoch.
function isoformat(micros) {
  const seconds = Math.floor(micros / 1e6);
  const fraction = micros - seconds * 1e6;
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  return fraction ? `${base}.${String(fraction).padStart(6, '0')}+00:00` : `${base}+00:00`;
}

const resolvers = {
  Long: {
    serialize: (v) => String(v),
    parseValue: (v) => (typeof v === 'string' ? BigInt(v) : v),
    parseLiteral: (ast) => BigInt(ast.value),
  },
  DateTime: {
    serialize: (v) => (typeof v === 'number' ? isoformat(v) : v),
    parseValue: (v) => Date.parse(v) * 1000,
    parseLiteral: (ast) => Date.parse(ast.value) * 1000,
  },
  Profile: {
    __resolveReference: ({ id }) => ({ id }),
    async viewingHistory(profile, { first, after, since, until, titleId }, ctx) {
      if (!(first >= 1 && first <= MAX_FIRST)) throw new Error(`first must be between 1 and ${MAX_FIRST}`);
      const shape = JSON.stringify({
        namespace: 'viewing_history', first, after, start: since ?? null, end: until ?? null,
        equals: titleId ? [['title_id', titleId]] : [],
      });
      const page = await ctx.loaders.series.load({ id: String(profile.id), shape });
      const edges = page.events.map((event, i) => ({ cursor: page.cursors[i], node: playbackEvent(event) }));
      return {
        edges,
        pageInfo: {
          hasNextPage: page.nextPageToken != null,
          endCursor: page.cursors.length ? page.cursors[page.cursors.length - 1] : null,
        },
      };
    },
    async playCount(profile, _args, ctx) {
      const name = String(profile.id);
      const count = await ctx.loaders.counts.load({ id: name, shape: 'profile_plays' });
      return { namespace: 'profile_plays', name, count, mode: 'ACCURATE' };
    },
  },
  Title: {
    __resolveReference: ({ id }) => ({ id }),
  },
};

// The schema, and a context factory giving each request its own loaders over the data.
export function subgraph(sdl, data) {
  const schema = buildSubgraphSchema([{ typeDefs: subgraphTypeDefs(sdl), resolvers }]);
  const gateway = gatewayOf(prepare(data));
  return { schema, context: () => ({ loaders: loaders(gateway) }) };
}

export function versions() {
  const out = { node: process.versions.node };
  for (const name of ['graphql', '@apollo/subgraph', '@apollo/server', 'dataloader']) {
    const path = new URL(`./node_modules/${name}/package.json`, import.meta.url);
    out[name] = JSON.parse(readFileSync(path, 'utf8')).version;
  }
  return out;
}
