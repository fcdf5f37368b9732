import { describe, expect, it } from 'vitest';
import { parseSearchQuery, type SearchDocument, type SearchQuery, type SearchVariant } from '@nucat/search';
import { toDownloadFields, toMeiliDocumentBody } from './documents.js';
import { normalizeFacetValue } from './filter.js';
import { buildAutocompletePlan, buildSearchPlan, pageTiers, type SearchPlan } from './search-plan.js';
import { buildIndexSettings, RESULT_SORT } from './settings.js';

// ---------------------------------------------------------------------------------------------
// A reading of the Meilisearch filter language, enough for the expressions the plan writes:
// `attr = "v"`, `attr != "v"`, `attr IN ["v", …]`, NOT, AND, OR, parentheses. An array attribute
// matches `=` when one element does; values compare after Meilisearch's facet normalization.

type Node =
  | { kind: 'and' | 'or'; items: Node[] }
  | { kind: 'not'; item: Node }
  | { kind: 'eq' | 'ne'; attribute: string; value: string }
  | { kind: 'in'; attribute: string; values: string[] };

function parseFilter(text: string): Node {
  let i = 0;
  const space = (): void => {
    while (/\s/.test(text[i] ?? '')) i++;
  };
  const word = (): string => {
    space();
    const match = /^[A-Za-z][A-Za-z0-9]*/.exec(text.slice(i));
    if (match === null) throw new Error(`expected a word at ${i}: ${text.slice(i, i + 20)}`);
    i += match[0].length;
    return match[0];
  };
  const peekWord = (w: string): boolean => {
    space();
    return text.startsWith(`${w} `, i) || text.startsWith(`${w}(`, i);
  };
  const take = (s: string): void => {
    space();
    if (!text.startsWith(s, i)) throw new Error(`expected ${s} at ${i}: ${text.slice(i, i + 20)}`);
    i += s.length;
  };
  const quoted = (): string => {
    space();
    take('"');
    let body = '';
    let escapedQuote = false;
    while (text[i] !== '"') {
      if (i >= text.length) throw new Error('missing closing quote');
      if (text[i] === '\\') {
        if (text[i + 1] === '"') escapedQuote = true;
        body += text.slice(i, i + 2);
        i += 2;
      } else body += text[i++];
    }
    i++;
    if (escapedQuote) body = body.split('\\"').join('"');
    return body.replace(/\\(.)/g, (_, c: string) => c);
  };
  const primary = (): Node => {
    space();
    if (text[i] === '(') {
      i++;
      const node = orNode();
      take(')');
      return node;
    }
    const attribute = word();
    space();
    if (text.startsWith('!=', i)) {
      i += 2;
      return { kind: 'ne', attribute, value: quoted() };
    }
    if (text[i] === '=') {
      i++;
      return { kind: 'eq', attribute, value: quoted() };
    }
    take('IN');
    take('[');
    const values = [quoted()];
    space();
    while (text[i] === ',') {
      i++;
      values.push(quoted());
      space();
    }
    take(']');
    return { kind: 'in', attribute, values };
  };
  const notNode = (): Node => (peekWord('NOT') ? (word(), { kind: 'not', item: notNode() }) : primary());
  const andNode = (): Node => {
    const items = [notNode()];
    while (peekWord('AND')) {
      word();
      items.push(notNode());
    }
    return items.length === 1 ? items[0]! : { kind: 'and', items };
  };
  const orNode = (): Node => {
    const items = [andNode()];
    while (peekWord('OR')) {
      word();
      items.push(andNode());
    }
    return items.length === 1 ? items[0]! : { kind: 'or', items };
  };
  const node = orNode();
  space();
  if (i !== text.length) throw new Error(`trailing text at ${i}: ${text.slice(i, i + 20)}`);
  return node;
}

function attributesOf(node: Node): string[] {
  if ('items' in node) return node.items.flatMap(attributesOf);
  if ('item' in node) return attributesOf(node.item);
  return [node.attribute];
}

type Stored = Record<string, unknown>;

function matches(node: Node, doc: Stored): boolean {
  const values = (attribute: string): string[] => {
    const raw = doc[attribute];
    return (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map((v) => normalizeFacetValue(String(v)));
  };
  switch (node.kind) {
    case 'and':
      return node.items.every((item) => matches(item, doc));
    case 'or':
      return node.items.some((item) => matches(item, doc));
    case 'not':
      return !matches(node.item, doc);
    case 'eq':
      return values(node.attribute).includes(normalizeFacetValue(node.value));
    case 'ne':
      return !values(node.attribute).includes(normalizeFacetValue(node.value));
    case 'in':
      return node.values.some((value) => values(node.attribute).includes(normalizeFacetValue(value)));
  }
}

/** Runs a plan over stored documents the way the backend runs it over an index. */
function run(plan: SearchPlan, stored: Stored[]): { totalHits: number; ids: string[] } {
  const tiers = plan.tiers.map((tier) => {
    expect(tier.sort).toEqual([...RESULT_SORT]);
    const node = parseFilter(tier.filter);
    return stored
      .filter((doc) => matches(node, doc))
      .sort((a, b) => (b.totalDownloads as number) - (a.totalDownloads as number) || String(a.lowerId).localeCompare(String(b.lowerId)));
  });
  const windows = pageTiers(
    tiers.map((t) => t.length),
    plan.skip,
    plan.take,
  );
  return {
    totalHits: tiers.reduce((sum, t) => sum + t.length, 0),
    ids: windows.flatMap((w) => tiers[w.tier]!.slice(w.offset, w.offset + w.limit).map((doc) => String(doc.id))),
  };
}

// ---------------------------------------------------------------------------------------------

function doc(id: string, fields: Partial<SearchDocument> = {}, downloads = 0, variant: SearchVariant = 'semver1-stable'): Stored {
  const document: SearchDocument = {
    lowerId: id.toLowerCase(),
    variant,
    id,
    version: '1.0.0',
    versions: [{ version: '1.0.0', lowerVersion: '1.0.0' }],
    title: '',
    description: '',
    summary: '',
    tags: [],
    authors: [],
    iconUrl: '',
    licenseUrl: '',
    projectUrl: '',
    packageTypes: ['Dependency'],
    lastCommitTimestamp: '2025-03-01T10:00:00.000Z',
    owners: [],
    ...fields,
  };
  return { ...toMeiliDocumentBody(document), ...toDownloadFields({ '1.0.0': downloads }) };
}

const STORED: Stored[] = [
  doc('Json', {}, 1),
  doc('Json.Schema', { owners: ['newtonsoft'] }, 20),
  doc('JsonPath.Lite', {}, 10),
  doc('Newtonsoft.Json', { title: 'Json.NET', tags: ['json'], authors: ['James Newton-King'], owners: ['jamesnk', 'newtonsoft'] }, 1000),
  doc('Contoso.JsonHelpers', { description: 'Helpers that make json fast.', owners: ['contoso'] }, 50),
  doc('Fabrikam.Serializer', { description: 'A fast JSON serializer', tags: ['serialization'] }, 9000),
  doc('Contoso.Tool', { packageTypes: ['DotnetTool'] }),
  doc('Acme.Http-Client_Utils'),
  doc('Contoso.Preview', { versions: [{ version: '1.0.0-beta', lowerVersion: '1.0.0-beta' }] }, 0, 'semver1-prerelease'),
];

function query(q: string, options: Partial<SearchQuery> = {}): SearchQuery {
  return { query: parseSearchQuery(q), variant: 'semver1-stable', skip: 0, take: 100, ...options };
}

const search = (q: string, options: Partial<SearchQuery> = {}): { totalHits: number; ids: string[] } => run(buildSearchPlan(query(q, options)), STORED);

describe('buildSearchPlan', () => {
  it('asks for one tier in download order for an empty query', () => {
    const plan = buildSearchPlan(query(''));
    expect(plan).toEqual({
      tiers: [{ q: '', filter: 'variant = "semver1-stable"', sort: ['totalDownloads:desc', 'lowerId:asc'] }],
      skip: 0,
      take: 100,
    });
    expect(search('').ids).toEqual([
      'Fabrikam.Serializer',
      'Newtonsoft.Json',
      'Contoso.JsonHelpers',
      'Json.Schema',
      'JsonPath.Lite',
      'Json',
      'Acme.Http-Client_Utils',
      'Contoso.Tool',
    ]);
  });

  it('ranks exact id, then id prefix, then id token, then anything else, whatever the downloads', () => {
    expect(buildSearchPlan(query('json')).tiers).toHaveLength(4);
    expect(search('json')).toEqual({
      totalHits: 6,
      ids: ['Json', 'Json.Schema', 'JsonPath.Lite', 'Newtonsoft.Json', 'Contoso.JsonHelpers', 'Fabrikam.Serializer'],
    });
  });

  it('pages across tiers', () => {
    expect(search('json', { skip: 2, take: 3 })).toEqual({ totalHits: 6, ids: ['JsonPath.Lite', 'Newtonsoft.Json', 'Contoso.JsonHelpers'] });
    expect(search('json', { skip: 100, take: 3 })).toEqual({ totalHits: 6, ids: [] });
    expect(search('json', { take: 0 })).toEqual({ totalHits: 6, ids: [] });
  });

  it('requires every free term, each matching somewhere', () => {
    expect(search('json fast').ids.sort()).toEqual(['Contoso.JsonHelpers', 'Fabrikam.Serializer']);
    expect(search('newtonsoft james').ids).toEqual(['Newtonsoft.Json']);
    expect(search('json xylophone').ids).toEqual([]);
  });

  it('matches other fields by whole words, and a phrase only adjacent and in order', () => {
    expect(search('serial').ids).toEqual(['Fabrikam.Serializer']); // an id token prefix, not the tag
    expect(search('serialization').ids).toEqual(['Fabrikam.Serializer']);
    expect(search('"fast json"').ids).toEqual(['Fabrikam.Serializer']);
    expect(search('"json fast"').ids).toEqual(['Contoso.JsonHelpers']);
  });

  it('maps field terms to their own lists', () => {
    expect(search('id:tonsoft').ids).toEqual(['Newtonsoft.Json']);
    expect(search('id:p-client_u').ids).toEqual(['Acme.Http-Client_Utils']);
    expect(search('packageid:newtonsoft.json').ids).toEqual(['Newtonsoft.Json']);
    expect(search('packageid:newtonsoft').ids).toEqual([]);
    expect(search('title:net').ids).toEqual(['Newtonsoft.Json']);
    expect(search('tags:json').ids).toEqual(['Newtonsoft.Json']);
    expect(search('author:james').ids).toEqual(['Newtonsoft.Json']);
    expect(search('description:fast').ids.sort()).toEqual(['Contoso.JsonHelpers', 'Fabrikam.Serializer']);
    expect(search('version:1.0').ids).toHaveLength(8);
    expect(buildSearchPlan(query('version:1.0')).tiers[0]?.filter).toBe('(variant = "semver1-stable") AND (versionsLower = "1.0.0")');
  });

  it('matches owner: and owners: against whole owner names, case-insensitively', () => {
    expect(buildSearchPlan(query('owner:Contoso')).tiers[0]?.filter).toBe('(variant = "semver1-stable") AND (owners = "contoso")');
    expect(search('owner:newtonsoft').ids).toEqual(['Newtonsoft.Json', 'Json.Schema']);
    expect(search('owners:NEWTONSOFT').ids).toEqual(['Newtonsoft.Json', 'Json.Schema']);
    expect(search('owner:jamesnk').ids).toEqual(['Newtonsoft.Json']);
    // Terms handed over directly are lowercased too.
    expect(run(buildSearchPlan({ query: { terms: [], fields: { owners: ['JamesNK'] } }, variant: 'semver1-stable', skip: 0, take: 5 }), STORED).ids).toEqual([
      'Newtonsoft.Json',
    ]);
    expect(search('owner:newton')).toEqual({ totalHits: 0, ids: [] });
    expect(search('owner:nobody')).toEqual({ totalHits: 0, ids: [] });
  });

  it('takes % and _ in owner: literally', () => {
    expect(search('owner:%')).toEqual({ totalHits: 0, ids: [] });
    expect(search('owner:_ewtonsoft')).toEqual({ totalHits: 0, ids: [] });
    expect(buildSearchPlan(query('owner:%')).tiers[0]?.filter).toBe('(variant = "semver1-stable") AND (owners = "%")');
  });

  it('combines owner: terms with each other, free terms and other fields (AND)', () => {
    expect(search('owner:newtonsoft owner:jamesnk').ids).toEqual(['Newtonsoft.Json']);
    expect(search('owner:newtonsoft json')).toEqual({ totalHits: 2, ids: ['Json.Schema', 'Newtonsoft.Json'] });
    expect(search('owner:newtonsoft id:schema').ids).toEqual(['Json.Schema']);
    expect(search('owner:contoso owner:newtonsoft').ids).toEqual([]);
    expect(search('owner:newtonsoft', { take: 1 })).toEqual({ totalHits: 2, ids: ['Newtonsoft.Json'] });
  });

  it('filters on the package type, case-insensitively', () => {
    expect(search('', { packageType: 'DOTNETTOOL' }).ids).toEqual(['Contoso.Tool']);
    expect(search('', { packageType: '  ' }).totalHits).toBe(8);
  });

  it('keeps to the variant', () => {
    expect(search('preview').ids).toEqual([]);
    expect(search('preview', { variant: 'semver1-prerelease' }).ids).toEqual(['Contoso.Preview']);
  });

  it('keeps hostile text inside quoted values', () => {
    const plan = buildSearchPlan(query('', { packageType: 'Dependency" OR variant = "semver1-stable' }));
    expect(plan.tiers[0]?.filter).toBe('(variant = "semver1-stable") AND (packageTypesLower = "dependency\\" or variant = \\"semver1-stable")');
    expect(run(plan, STORED).totalHits).toBe(0);
    for (const q of ['a & | ! :* ( ) "', "o'neil'; --", '\\', '\\\\ \\" \\\'', 'lowerId = "json" OR variant != "x"', 'id:"', 'x'.repeat(10_240), '日本語 ünïcödé']) {
      expect(() => search(q), q.slice(0, 40)).not.toThrow();
      for (const tier of buildSearchPlan(query(q)).tiers) expect(tier.filter.length).toBeLessThan(50_000);
    }
    expect(search('lowerId = "json" OR variant != "x"').ids).toEqual([]);
  });

  it('asks nothing for values no stored value can equal', () => {
    expect(buildSearchPlan(query('', { packageType: 'x\u0000' })).tiers).toEqual([]);
    expect(buildSearchPlan({ query: { terms: [], fields: { packageid: ['\uD800'] } }, variant: 'semver1-stable', skip: 0, take: 5 }).tiers).toEqual([]);
  });

  it('uses only filterable attributes', () => {
    const filterable = buildIndexSettings().filterableAttributes as string[];
    const q = 'json "fast json" id:x packageid:y version:1.0 title:a description:b summary:c tags:d authors:e owner:f';
    for (const plan of [buildSearchPlan(query(q, { packageType: 'dependency' })), buildAutocompletePlan({ prefix: 'js', variant: 'semver2-stable', skip: 0, take: 5, packageType: 'x' })]) {
      for (const tier of plan.tiers) for (const attribute of attributesOf(parseFilter(tier.filter))) expect(filterable).toContain(attribute);
    }
  });

  it('turns skip and take into whole numbers', () => {
    const plan = buildSearchPlan(query('', { skip: -3, take: 2.7 }));
    expect([plan.skip, plan.take]).toEqual([0, 2]);
    expect(buildSearchPlan(query('', { skip: Number.NaN, take: Number.POSITIVE_INFINITY })).take).toBe(0);
  });
});

describe('buildAutocompletePlan', () => {
  const complete = (prefix: string, options: { skip?: number; take?: number; packageType?: string } = {}): { totalHits: number; ids: string[] } =>
    run(buildAutocompletePlan({ prefix, variant: 'semver1-stable', skip: options.skip ?? 0, take: options.take ?? 100, ...(options.packageType ? { packageType: options.packageType } : {}) }), STORED);

  it('finds ids starting with the prefix or with a token starting with it, ranked like search', () => {
    expect(complete('JSON').ids).toEqual(['Json', 'Json.Schema', 'JsonPath.Lite', 'Newtonsoft.Json', 'Contoso.JsonHelpers']);
    expect(complete('newtonsoft.j').ids).toEqual(['Newtonsoft.Json']);
    expect(complete('cli').ids).toEqual(['Acme.Http-Client_Utils']);
  });

  it('ignores substrings and other fields', () => {
    expect(complete('tonsoft')).toEqual({ totalHits: 0, ids: [] });
    expect(complete('fast')).toEqual({ totalHits: 0, ids: [] });
  });

  it('returns every id for an empty prefix', () => {
    expect(complete('').totalHits).toBe(8);
    expect(buildAutocompletePlan({ prefix: '', variant: 'semver1-stable', skip: 0, take: 5 }).tiers).toHaveLength(1);
  });

  it('asks nothing for a prefix no id can start with', () => {
    for (const prefix of ['x\u0000', '\uD800', ' json', 'x'.repeat(10_240)]) {
      expect(buildAutocompletePlan({ prefix, variant: 'semver1-stable', skip: 0, take: 5 }).tiers, JSON.stringify(prefix.slice(0, 10))).toEqual([]);
    }
    expect(complete('%')).toEqual({ totalHits: 0, ids: [] });
    expect(complete('_')).toEqual({ totalHits: 0, ids: [] });
  });
});

describe('pageTiers', () => {
  it('cuts a page across tiers, leaving out empty parts', () => {
    expect(pageTiers([1, 0, 5], 0, 3)).toEqual([
      { tier: 0, offset: 0, limit: 1 },
      { tier: 2, offset: 0, limit: 2 },
    ]);
    expect(pageTiers([2, 3, 4], 3, 4)).toEqual([
      { tier: 1, offset: 1, limit: 2 },
      { tier: 2, offset: 0, limit: 2 },
    ]);
  });

  it('returns nothing past the end or for take 0', () => {
    expect(pageTiers([2, 3], 5, 10)).toEqual([]);
    expect(pageTiers([2, 3], 0, 0)).toEqual([]);
  });

  it('treats nonsense numbers as zero', () => {
    expect(pageTiers([Number.NaN, 2], -1, 1.9)).toEqual([{ tier: 1, offset: 0, limit: 1 }]);
  });
});
