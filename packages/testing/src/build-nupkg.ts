import AdmZip from 'adm-zip';

/** A package dependency written into the built nuspec. */
export interface NupkgDependencySpec {
  /** Dependency package id. */
  id: string;
  /** Version range exactly as it should appear in the nuspec (`1.0.0`, `[1.0.0, 2.0.0)`). */
  range: string;
  /** Target framework of the dependency group; dependencies without one share a group without `targetFramework`. */
  targetFramework?: string;
}

/** What {@link buildNupkg} writes. Only `id` and `version` are required. */
export interface NupkgSpec {
  /** Package id, written verbatim (casing kept). */
  id: string;
  /** Version, written verbatim: `1.0`, `1.0.0+build` and other non-normalized forms are kept as given. */
  version: string;
  /** @defaultValue `'nucat tests'` */
  authors?: string;
  /** @defaultValue `'Test package <id>.'` */
  description?: string;
  /** Dependencies, grouped by `targetFramework`. @defaultValue none (no `<dependencies>` element) */
  dependencies?: NupkgDependencySpec[];
  /**
   * Extra zip entries by path (forward slashes). An entry named `lib/netstandard2.0/_._` replaces the default one.
   * @defaultValue only `lib/netstandard2.0/_._`
   */
  files?: Record<string, Buffer | string>;
  /** Raw XML inserted at the end of `<metadata>` (for example `<license type="expression">MIT</license>`). */
  nuspecExtra?: string;
  /** Nuspec `<title>`; omitted when absent. */
  title?: string;
  /** Nuspec `<tags>`; omitted when absent. */
  tags?: string;
}

/** Nuspec namespace written by current NuGet clients. */
export const NUSPEC_NAMESPACE = 'http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd';

/** Fixed entry time (local components, so the DOS timestamp bytes do not depend on the time zone). */
const ENTRY_TIME = new Date(2000, 0, 1, 0, 0, 0);

const EMPTY_FOLDER_MARKER = 'lib/netstandard2.0/_._';

/**
 * Builds a minimal valid `.nupkg` in memory: a root `<id>.nuspec` (2013/05 namespace), `[Content_Types].xml`,
 * `_rels/.rels` pointing at the nuspec, `lib/netstandard2.0/_._` and any extra `files`.
 *
 * The same spec always gives the same bytes (fixed entry times, sorted entries), so tests can compare hashes.
 *
 * @example
 * ```ts
 * const bytes = buildNupkg({ id: 'Contoso.Widgets', version: '1.0.0',
 *   dependencies: [{ id: 'Contoso.Core', range: '[1.0.0, )', targetFramework: 'netstandard2.0' }] });
 * ```
 */
export function buildNupkg(spec: NupkgSpec): Buffer {
  const nuspecName = `${spec.id}.nuspec`;
  const files = new Map<string, Buffer>();
  files.set(EMPTY_FOLDER_MARKER, Buffer.alloc(0));
  for (const [path, content] of Object.entries(spec.files ?? {})) {
    files.set(path, typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
  }

  const entries = new Map<string, Buffer>();
  entries.set('_rels/.rels', Buffer.from(renderRels(nuspecName), 'utf8'));
  entries.set(nuspecName, Buffer.from(renderNuspec(spec), 'utf8'));
  for (const [path, content] of files) entries.set(path, content);
  entries.set('[Content_Types].xml', Buffer.from(renderContentTypes([...entries.keys()]), 'utf8'));

  const zip = new AdmZip();
  for (const name of [...entries.keys()].sort()) {
    const entry = zip.addFile(name, entries.get(name)!);
    entry.header.time = ENTRY_TIME;
  }
  return zip.toBuffer();
}

function renderNuspec(spec: NupkgSpec): string {
  const lines = [
    '<?xml version="1.0" encoding="utf-8"?>',
    `<package xmlns="${NUSPEC_NAMESPACE}">`,
    '  <metadata>',
    `    <id>${escapeXml(spec.id)}</id>`,
    `    <version>${escapeXml(spec.version)}</version>`,
  ];
  if (spec.title !== undefined) lines.push(`    <title>${escapeXml(spec.title)}</title>`);
  lines.push(`    <authors>${escapeXml(spec.authors ?? 'nucat tests')}</authors>`);
  lines.push(`    <description>${escapeXml(spec.description ?? `Test package ${spec.id}.`)}</description>`);
  if (spec.tags !== undefined) lines.push(`    <tags>${escapeXml(spec.tags)}</tags>`);
  const dependencies = spec.dependencies ?? [];
  if (dependencies.length > 0) {
    lines.push('    <dependencies>');
    for (const [framework, group] of groupByFramework(dependencies)) {
      lines.push(framework === undefined ? '      <group>' : `      <group targetFramework="${escapeXml(framework)}">`);
      for (const d of group) {
        lines.push(`        <dependency id="${escapeXml(d.id)}" version="${escapeXml(d.range)}" />`);
      }
      lines.push('      </group>');
    }
    lines.push('    </dependencies>');
  }
  if (spec.nuspecExtra !== undefined) lines.push(`    ${spec.nuspecExtra}`);
  lines.push('  </metadata>', '</package>', '');
  return lines.join('\n');
}

function groupByFramework(dependencies: NupkgDependencySpec[]): Map<string | undefined, NupkgDependencySpec[]> {
  const groups = new Map<string | undefined, NupkgDependencySpec[]>();
  for (const d of dependencies) {
    const group = groups.get(d.targetFramework) ?? [];
    group.push(d);
    groups.set(d.targetFramework, group);
  }
  return groups;
}

function renderRels(nuspecName: string): string {
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">',
    `  <Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" Target="/${escapeXml(nuspecName)}" Id="R0" />`,
    '</Relationships>',
    '',
  ].join('\n');
}

/** One `Default` per extension (`rels` gets the relationships type), an `Override` for names without one. */
function renderContentTypes(names: string[]): string {
  const extensions = new Set<string>();
  const overrides: string[] = [];
  for (const name of names) {
    if (name === '[Content_Types].xml') continue;
    const base = name.slice(name.lastIndexOf('/') + 1);
    const dot = base.lastIndexOf('.');
    if (dot >= 0 && dot < base.length - 1) extensions.add(base.slice(dot + 1).toLowerCase());
    else overrides.push(name);
  }
  const lines = [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">',
  ];
  for (const ext of [...extensions].sort()) {
    const type = ext === 'rels' ? 'application/vnd.openxmlformats-package.relationships+xml' : 'application/octet';
    lines.push(`  <Default Extension="${escapeXml(ext)}" ContentType="${type}" />`);
  }
  for (const name of overrides.sort()) {
    lines.push(`  <Override PartName="/${escapeXml(name)}" ContentType="application/octet" />`);
  }
  lines.push('</Types>', '');
  return lines.join('\n');
}

function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
