import { SaxesParser, type SaxesTagNS } from 'saxes';
import { InvalidPackageError } from './errors.js';
import { isValidExistingPackageId, validatePackageId } from './package-id.js';
import { splitTags } from './tags.js';
import { normalizeDependencyRange } from './version-range.js';
import { explainVersion, type NuGetVersion } from './version.js';

/** One `<dependency>` of a nuspec. */
export interface Dependency {
  id: string;
  /** Normalized range (`[1.0.0, )`), or `""` when the nuspec gives none or an invalid one. */
  range: string;
  /** The `include` attribute, verbatim (e.g. `Compile,Runtime`). */
  include?: string;
  /** The `exclude` attribute, verbatim (e.g. `Build,Analyzers`). */
  exclude?: string;
}

/** A `<group>` of dependencies; a flat `<dependencies>` list becomes one group without a framework. */
export interface DependencyGroup {
  /** The `targetFramework` attribute, verbatim; absent for the fallback group. */
  targetFramework?: string;
  dependencies: Dependency[];
}

/** A `<packageType>` (`Dependency`, `DotnetTool`, `SymbolsPackage`, ...). */
export interface PackageType {
  name: string;
  version?: string;
}

/**
 * The metadata of a nuspec, checked and normalized.
 * See https://learn.microsoft.com/nuget/reference/nuspec
 */
export interface PackageManifest {
  /** The id as written in the nuspec (case kept). */
  id: string;
  version: NuGetVersion;
  /** The `<version>` text as written (trimmed), e.g. `01.2.0.0-RC.1+build.7`. */
  verbatimVersion: string;
  /** Comma-separated authors; `""` only for symbols packages, which omit it. */
  authors: string;
  description: string;
  title?: string;
  summary?: string;
  releaseNotes?: string;
  copyright?: string;
  language?: string;
  tags: string[];
  projectUrl?: string;
  licenseUrl?: string;
  license?: { type: 'expression' | 'file'; value: string; version?: string };
  iconUrl?: string;
  /** Path of the embedded icon, as written in the nuspec. */
  icon?: string;
  /** Path of the embedded readme, as written in the nuspec. */
  readme?: string;
  requireLicenseAcceptance: boolean;
  developmentDependency?: boolean;
  serviceable?: boolean;
  minClientVersion?: string;
  repository?: { type?: string; url?: string; branch?: string; commit?: string };
  /** Package types as declared; empty when the nuspec declares none (NuGet then assumes `Dependency`). */
  packageTypes: PackageType[];
  dependencyGroups: DependencyGroup[];
  frameworkAssemblyGroups: { targetFramework?: string; assemblies: string[] }[];
  frameworkReferenceGroups: { targetFramework: string; references: string[] }[];
}

/** Caps applied while reading a nuspec; every one of them guards against hostile input. */
export interface NuspecLimits {
  /** Size of the nuspec file. @defaultValue 1 MiB */
  maxNuspecBytes: number;
  /** Nesting depth of elements (`<package>` is 1). @defaultValue 32 */
  maxDepth: number;
  /** Length of `<version>`. @defaultValue 64 */
  maxVersionLength: number;
  /** Length of any other text or attribute kept (description, authors, title, URLs, ...). @defaultValue 4000 */
  maxFieldLength: number;
  /** Length of `<releaseNotes>`. @defaultValue 35000 */
  maxReleaseNotesLength: number;
  /** Number of dependency groups, and of framework reference groups. @defaultValue 1000 */
  maxDependencyGroups: number;
  /** Number of dependencies in one group (also caps framework assemblies/references and package types). @defaultValue 1000 */
  maxDependenciesPerGroup: number;
}

/** The default {@link NuspecLimits}. */
export const DEFAULT_NUSPEC_LIMITS: Readonly<NuspecLimits> = Object.freeze({
  maxNuspecBytes: 1024 * 1024,
  maxDepth: 32,
  maxVersionLength: 64,
  maxFieldLength: 4000,
  maxReleaseNotesLength: 35_000,
  maxDependencyGroups: 1000,
  maxDependenciesPerGroup: 1000,
});

/** Longest dependency id the NuGet Gallery accepts. */
const MAX_DEPENDENCY_ID_LENGTH = 128;

/** Namespaces NuGet has used for nuspec files (NuGet.Client `ManifestSchemaUtility`). */
const KNOWN_NAMESPACES = new Set([
  'http://schemas.microsoft.com/packaging/2010/07/nuspec.xsd',
  'http://schemas.microsoft.com/packaging/2011/08/nuspec.xsd',
  'http://schemas.microsoft.com/packaging/2011/10/nuspec.xsd',
  'http://schemas.microsoft.com/packaging/2012/06/nuspec.xsd',
  'http://schemas.microsoft.com/packaging/2013/01/nuspec.xsd',
  'http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd',
]);
/** Later schema versions will follow the same pattern; accept them too. */
const NUSPEC_NAMESPACE_PATTERN = /^http:\/\/schemas\.microsoft\.com\/packaging\/\d{4}\/\d{2}\/nuspec\.xsd$/;

const SYMBOLS_PACKAGE_TYPE = 'symbolspackage';

/**
 * Reads and checks a nuspec.
 *
 * - Encoding: UTF-8 (with or without BOM) or UTF-16 with a BOM; anything else is refused.
 * - Any `DOCTYPE` is refused outright: no DTD, no entities beyond the five predefined ones and
 *   character references, so XXE and "billion laughs" cannot happen.
 * - Elements are matched by local name; the root `<package>` may be in any nuspec schema
 *   namespace or in none. Elements in other namespaces are ignored.
 * - Caps from {@link NuspecLimits} apply to size, depth, field lengths and counts.
 * - Required: `id` (the NuGet Gallery's rules for new ids), `version`, `description`, and `authors` (which a
 *   symbols package may omit; it is then `""`).
 * - Dependency ranges are normalized (`[1.0.0, )`; `""` when missing or invalid); `include` and
 *   `exclude` are kept verbatim; a flat list becomes one group without a target framework.
 *
 * @throws InvalidPackageError (code `invalid_package`) saying what is wrong.
 */
export function parseNuspec(xml: Uint8Array, limits?: Partial<NuspecLimits>): PackageManifest {
  const caps: NuspecLimits = { ...DEFAULT_NUSPEC_LIMITS, ...limits };
  if (xml.byteLength > caps.maxNuspecBytes) {
    throw new InvalidPackageError(
      `The nuspec is ${xml.byteLength} bytes; the limit is ${caps.maxNuspecBytes} bytes.`,
      { size: xml.byteLength, limit: caps.maxNuspecBytes },
    );
  }
  const { text, family } = decodeNuspec(xml);
  const root = parseXml(text, family, caps);
  return readManifest(root, caps);
}

// ---------------------------------------------------------------------------------------------
// Decoding

type EncodingFamily = 'utf-8' | 'utf-16';

function decodeNuspec(bytes: Uint8Array): { text: string; family: EncodingFamily } {
  const b0 = bytes[0];
  const b1 = bytes[1];
  const b2 = bytes[2];
  const b3 = bytes[3];
  // UTF-32 BOMs first: FF FE 00 00 also starts like a UTF-16 LE BOM.
  if ((b0 === 0xff && b1 === 0xfe && b2 === 0 && b3 === 0) || (b0 === 0 && b1 === 0 && b2 === 0xfe && b3 === 0xff)) {
    throw encodingError('is encoded as UTF-32');
  }
  if (b0 === 0xff && b1 === 0xfe) return { text: decode(bytes.subarray(2), 'utf-16le'), family: 'utf-16' };
  if (b0 === 0xfe && b1 === 0xff) return { text: decode(swapBytes(bytes.subarray(2)), 'utf-16le'), family: 'utf-16' };
  if ((b0 === 0 && b1 === 0x3c) || (b0 === 0x3c && b1 === 0)) {
    throw encodingError('looks like UTF-16 without a byte order mark');
  }
  const start = b0 === 0xef && b1 === 0xbb && b2 === 0xbf ? 3 : 0;
  return { text: decode(bytes.subarray(start), 'utf-8'), family: 'utf-8' };
}

function decode(bytes: Uint8Array, encoding: 'utf-8' | 'utf-16le'): string {
  try {
    return new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (cause) {
    throw new InvalidPackageError(
      `The nuspec is not valid ${encoding === 'utf-8' ? 'UTF-8' : 'UTF-16'}; save it as UTF-8.`,
      { encoding },
      { cause },
    );
  }
}

function swapBytes(bytes: Uint8Array): Uint8Array {
  const swapped = new Uint8Array(bytes.length - (bytes.length % 2));
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    swapped[i] = bytes[i + 1]!;
    swapped[i + 1] = bytes[i]!;
  }
  if (bytes.length % 2 !== 0) throw encodingError('has an odd number of bytes for UTF-16');
  return swapped;
}

function encodingError(what: string): InvalidPackageError {
  return new InvalidPackageError(
    `The nuspec ${what}; nuspec files must be UTF-8 (or UTF-16 with a byte order mark). Save it as UTF-8.`,
  );
}

function checkDeclaredEncoding(declared: string | undefined, family: EncodingFamily): void {
  if (declared === undefined) return;
  const name = declared.trim().toLowerCase();
  const fits =
    family === 'utf-8'
      ? name === 'utf-8' || name === 'utf8'
      : ['utf-16', 'utf-16le', 'utf-16be', 'unicode', 'ucs-2'].includes(name);
  if (!fits) {
    throw new InvalidPackageError(
      `The nuspec declares encoding="${declared}" but is ${family === 'utf-8' ? 'UTF-8' : 'UTF-16'}; ` +
        'nuspec files must be UTF-8 (or UTF-16 with a byte order mark). Save it as UTF-8 and declare encoding="utf-8".',
      { declaredEncoding: declared },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// XML to a small element tree

interface XmlElement {
  local: string;
  uri: string;
  /** Attributes without a namespace, by local name. */
  attributes: Map<string, string>;
  children: XmlElement[];
  /** Text and child elements in document order. */
  content: (string | XmlElement)[];
}

function parseXml(text: string, family: EncodingFamily, caps: NuspecLimits): XmlElement {
  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;

  parser.on('xmldecl', (decl) => checkDeclaredEncoding(decl.encoding, family));
  parser.on('doctype', () => {
    throw new InvalidPackageError(
      'The nuspec contains a DOCTYPE declaration; DTDs and custom entities are not allowed in nuspec files. Remove the <!DOCTYPE ...> line.',
    );
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    if (stack.length + 1 > caps.maxDepth) {
      throw new InvalidPackageError(`The nuspec nests elements more than ${caps.maxDepth} levels deep.`, {
        limit: caps.maxDepth,
      });
    }
    const attributes = new Map<string, string>();
    for (const attribute of Object.values(tag.attributes)) {
      if (attribute.uri === '' && attribute.prefix === '') attributes.set(attribute.local, attribute.value);
    }
    const element: XmlElement = { local: tag.local, uri: tag.uri, attributes, children: [], content: [] };
    const parent = stack[stack.length - 1];
    if (parent) {
      parent.children.push(element);
      parent.content.push(element);
    } else {
      root = element;
    }
    stack.push(element);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  const onText = (data: string): void => {
    stack[stack.length - 1]?.content.push(data);
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.on('error', (error) => {
    throw new InvalidPackageError(`The nuspec is not well-formed XML: ${error.message}`, undefined, { cause: error });
  });

  try {
    parser.write(text).close();
  } catch (error) {
    if (error instanceof InvalidPackageError) throw error;
    throw new InvalidPackageError(`The nuspec is not well-formed XML: ${(error as Error).message}`, undefined, {
      cause: error,
    });
  }
  if (!root) throw new InvalidPackageError('The nuspec has no root element.');
  return root;
}

/** All text inside an element, like .NET `XElement.Value`. */
function elementText(element: XmlElement): string {
  let text = '';
  for (const part of element.content) text += typeof part === 'string' ? part : elementText(part);
  return text;
}

// ---------------------------------------------------------------------------------------------
// Manifest

function isNuspecNamespace(uri: string): boolean {
  return uri === '' || KNOWN_NAMESPACES.has(uri) || NUSPEC_NAMESPACE_PATTERN.test(uri);
}

function readManifest(root: XmlElement, caps: NuspecLimits): PackageManifest {
  if (root.local !== 'package') {
    throw new InvalidPackageError(`The nuspec's root element is <${root.local}>; it must be <package>.`);
  }
  if (!isNuspecNamespace(root.uri)) {
    throw new InvalidPackageError(
      `The nuspec's <package> element is in the namespace '${root.uri}', which is not a nuspec schema namespace; ` +
        "use xmlns=\"http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd\" or none.",
      { namespace: root.uri },
    );
  }
  const namespace = root.uri;
  const inNuspec = (e: XmlElement): boolean => e.uri === namespace || e.uri === '';
  const childrenNamed = (parent: XmlElement, local: string): XmlElement[] =>
    parent.children.filter((e) => e.local === local && inNuspec(e));
  const childNamed = (parent: XmlElement, local: string): XmlElement | undefined =>
    parent.children.find((e) => e.local === local && inNuspec(e));

  const metadata = childNamed(root, 'metadata');
  if (!metadata) throw new InvalidPackageError('The nuspec has no <metadata> element inside <package>.');

  const limit = (field: string, value: string, max = caps.maxFieldLength): string => {
    if (value.length > max) {
      throw new InvalidPackageError(
        `The nuspec ${field} is ${value.length} characters long; the limit is ${max}.`,
        { field, length: value.length, limit: max },
      );
    }
    return value;
  };
  /** Trimmed text of a metadata child; undefined when absent or blank. */
  const text = (local: string, max = caps.maxFieldLength): string | undefined => {
    const element = childNamed(metadata, local);
    if (!element) return undefined;
    const value = elementText(element).trim();
    return value === '' ? undefined : limit(`<${local}>`, value, max);
  };
  /** Trimmed attribute value; undefined when absent or blank. */
  const attribute = (element: XmlElement, name: string, field: string): string | undefined => {
    const value = element.attributes.get(name)?.trim();
    return value === undefined || value === '' ? undefined : limit(field, value);
  };
  const bool = (local: string): boolean | undefined => {
    const value = text(local);
    if (value === undefined) return undefined;
    if (/^(true|1)$/i.test(value)) return true;
    if (/^(false|0)$/i.test(value)) return false;
    throw new InvalidPackageError(`The nuspec <${local}> must be 'true' or 'false', not '${value}'.`, {
      field: local,
      value,
    });
  };
  const countCap = (what: string, count: number, max: number): void => {
    if (count > max) {
      throw new InvalidPackageError(`The nuspec has ${count} ${what}; the limit is ${max}.`, { limit: max });
    }
  };

  // Identity.
  const id = text('id', Number.MAX_SAFE_INTEGER);
  if (id === undefined) throw new InvalidPackageError('The nuspec has no <id>; add the package id.', { field: 'id' });
  const idProblem = validatePackageId(id);
  if (idProblem) throw new InvalidPackageError(idProblem, { field: 'id', value: id });

  const verbatimVersion = text('version', Number.MAX_SAFE_INTEGER);
  if (verbatimVersion === undefined) {
    throw new InvalidPackageError('The nuspec has no <version>; add the package version.', { field: 'version' });
  }
  if (verbatimVersion.length > caps.maxVersionLength) {
    throw new InvalidPackageError(
      `The nuspec <version> is ${verbatimVersion.length} characters long; the limit is ${caps.maxVersionLength}.`,
      { field: 'version', length: verbatimVersion.length, limit: caps.maxVersionLength },
    );
  }
  const parsedVersion = explainVersion(verbatimVersion);
  if (!parsedVersion.ok) {
    throw new InvalidPackageError(
      `The nuspec <version> '${verbatimVersion}' is not a valid NuGet version: ${parsedVersion.reason}.`,
      { field: 'version', value: verbatimVersion },
    );
  }

  // Package types come first: a symbols package may omit <authors>.
  const packageTypes: PackageType[] = [];
  const packageTypesElement = childNamed(metadata, 'packageTypes');
  if (packageTypesElement) {
    const items = childrenNamed(packageTypesElement, 'packageType');
    countCap('package types', items.length, caps.maxDependenciesPerGroup);
    for (const item of items) {
      const name = attribute(item, 'name', 'packageType name');
      if (name === undefined) throw new InvalidPackageError('A nuspec <packageType> has no name attribute.');
      const version = attribute(item, 'version', 'packageType version');
      packageTypes.push(version === undefined ? { name } : { name, version });
    }
  }
  const isSymbols = packageTypes.some((t) => t.name.toLowerCase() === SYMBOLS_PACKAGE_TYPE);

  const authors = text('authors');
  if (authors === undefined && !isSymbols) {
    throw new InvalidPackageError('The nuspec has no <authors>; add a comma-separated list of authors.', {
      field: 'authors',
    });
  }
  const description = text('description');
  if (description === undefined) {
    throw new InvalidPackageError('The nuspec has no <description>; add a short description of the package.', {
      field: 'description',
    });
  }

  const manifest: PackageManifest = {
    id,
    version: parsedVersion.version,
    verbatimVersion,
    authors: authors ?? '',
    description,
    tags: splitTags(text('tags')),
    requireLicenseAcceptance: bool('requireLicenseAcceptance') ?? false,
    packageTypes,
    dependencyGroups: [],
    frameworkAssemblyGroups: [],
    frameworkReferenceGroups: [],
  };

  const optional = {
    title: text('title'),
    summary: text('summary'),
    releaseNotes: text('releaseNotes', caps.maxReleaseNotesLength),
    copyright: text('copyright'),
    language: text('language'),
    projectUrl: text('projectUrl'),
    licenseUrl: text('licenseUrl'),
    iconUrl: text('iconUrl'),
    icon: text('icon'),
    readme: text('readme'),
    developmentDependency: bool('developmentDependency'),
    serviceable: bool('serviceable'),
  } as const;
  for (const [key, value] of Object.entries(optional)) {
    if (value !== undefined) Object.assign(manifest, { [key]: value });
  }

  const minClientVersion = attribute(metadata, 'minClientVersion', 'minClientVersion');
  if (minClientVersion !== undefined) {
    const parsed = explainVersion(minClientVersion);
    if (!parsed.ok) {
      throw new InvalidPackageError(
        `The nuspec minClientVersion '${minClientVersion}' is not a valid version: ${parsed.reason}.`,
        { field: 'minClientVersion', value: minClientVersion },
      );
    }
    manifest.minClientVersion = minClientVersion;
  }

  // License: an SPDX expression or a file inside the package.
  const licenseElement = childNamed(metadata, 'license');
  if (licenseElement) {
    const type = attribute(licenseElement, 'type', 'license type')?.toLowerCase();
    const value = limit('<license>', elementText(licenseElement).trim());
    if (type !== 'expression' && type !== 'file') {
      throw new InvalidPackageError(
        `The nuspec <license> has type '${licenseElement.attributes.get('type') ?? ''}'; it must be 'expression' or 'file'.`,
        { field: 'license' },
      );
    }
    if (value === '') throw new InvalidPackageError(`The nuspec <license type="${type}"> is empty.`, { field: 'license' });
    const version = attribute(licenseElement, 'version', 'license version');
    manifest.license = version === undefined ? { type, value } : { type, value, version };
  }

  const repositoryElement = childNamed(metadata, 'repository');
  if (repositoryElement) {
    const repository: NonNullable<PackageManifest['repository']> = {};
    for (const key of ['type', 'url', 'branch', 'commit'] as const) {
      const value = attribute(repositoryElement, key, `repository ${key}`);
      if (value !== undefined) repository[key] = value;
    }
    if (Object.keys(repository).length > 0) manifest.repository = repository;
  }

  // Dependencies: either groups or one flat list, never both.
  const dependenciesElement = childNamed(metadata, 'dependencies');
  if (dependenciesElement) {
    const groups = childrenNamed(dependenciesElement, 'group');
    const flat = childrenNamed(dependenciesElement, 'dependency');
    if (groups.length > 0 && flat.length > 0) {
      throw new InvalidPackageError(
        'The nuspec <dependencies> mixes <group> and <dependency> elements; put every <dependency> inside a <group>.',
      );
    }
    countCap('dependency groups', groups.length, caps.maxDependencyGroups);
    const readDependencies = (items: XmlElement[], where: string): Dependency[] => {
      countCap(`dependencies in ${where}`, items.length, caps.maxDependenciesPerGroup);
      return items.map((item) => readDependency(item, where));
    };
    const readDependency = (item: XmlElement, where: string): Dependency => {
      const dependencyId = item.attributes.get('id')?.trim() ?? '';
      if (dependencyId === '') throw new InvalidPackageError(`A <dependency> in ${where} has no id attribute.`);
      if (dependencyId.length > MAX_DEPENDENCY_ID_LENGTH || !isValidExistingPackageId(dependencyId)) {
        throw new InvalidPackageError(
          `The dependency id '${dependencyId}' in ${where} is not a valid package id ` +
            `(letters, digits and '_', separated by single '.' or '-', at most ${MAX_DEPENDENCY_ID_LENGTH} characters).`,
          { field: 'dependency', value: dependencyId },
        );
      }
      const range = item.attributes.get('version');
      const dependency: Dependency = {
        id: dependencyId,
        range: normalizeDependencyRange(range === undefined ? undefined : limit('dependency version', range)),
      };
      const include = item.attributes.get('include');
      const exclude = item.attributes.get('exclude');
      if (include !== undefined) dependency.include = limit('dependency include', include);
      if (exclude !== undefined) dependency.exclude = limit('dependency exclude', exclude);
      return dependency;
    };
    for (const group of groups) {
      const targetFramework = attribute(group, 'targetFramework', 'dependency group targetFramework');
      const where =
        targetFramework === undefined ? 'the dependency group without a targetFramework' : `the ${targetFramework} group`;
      const dependencies = readDependencies(childrenNamed(group, 'dependency'), where);
      manifest.dependencyGroups.push(targetFramework === undefined ? { dependencies } : { targetFramework, dependencies });
    }
    if (flat.length > 0) manifest.dependencyGroups.push({ dependencies: readDependencies(flat, '<dependencies>') });
  }

  // Framework assemblies: one element per assembly; targetFramework may list several frameworks.
  const frameworkAssembliesElement = childNamed(metadata, 'frameworkAssemblies');
  if (frameworkAssembliesElement) {
    const items = childrenNamed(frameworkAssembliesElement, 'frameworkAssembly');
    countCap('framework assemblies', items.length, caps.maxDependenciesPerGroup);
    const byFramework = new Map<string | undefined, string[]>();
    for (const item of items) {
      const assemblyName = attribute(item, 'assemblyName', 'frameworkAssembly assemblyName');
      if (assemblyName === undefined) {
        throw new InvalidPackageError('A nuspec <frameworkAssembly> has no assemblyName attribute.');
      }
      const frameworks = (attribute(item, 'targetFramework', 'frameworkAssembly targetFramework') ?? '')
        .split(',')
        .map((f) => f.trim())
        .filter((f) => f !== '');
      for (const framework of frameworks.length > 0 ? frameworks : [undefined]) {
        const assemblies = byFramework.get(framework) ?? [];
        assemblies.push(assemblyName);
        byFramework.set(framework, assemblies);
      }
    }
    for (const [targetFramework, assemblies] of byFramework) {
      manifest.frameworkAssemblyGroups.push(targetFramework === undefined ? { assemblies } : { targetFramework, assemblies });
    }
  }

  const frameworkReferencesElement = childNamed(metadata, 'frameworkReferences');
  if (frameworkReferencesElement) {
    const groups = childrenNamed(frameworkReferencesElement, 'group');
    countCap('framework reference groups', groups.length, caps.maxDependencyGroups);
    for (const group of groups) {
      const targetFramework = attribute(group, 'targetFramework', 'frameworkReferences group targetFramework');
      if (targetFramework === undefined) {
        throw new InvalidPackageError('A nuspec <frameworkReferences> <group> has no targetFramework attribute.');
      }
      const items = childrenNamed(group, 'frameworkReference');
      countCap(`framework references in the ${targetFramework} group`, items.length, caps.maxDependenciesPerGroup);
      const references = items.map((item) => {
        const name = attribute(item, 'name', 'frameworkReference name');
        if (name === undefined) throw new InvalidPackageError('A nuspec <frameworkReference> has no name attribute.');
        return name;
      });
      manifest.frameworkReferenceGroups.push({ targetFramework, references });
    }
  }

  return manifest;
}
