/**
 * Runs the real dotnet CLI against a nucat stack, isolated from the machine's NuGet state: every call gets
 * its own global packages folder and HTTP cache (unless told otherwise), and every project directory gets a
 * nuget.config that clears inherited sources.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Output of a dotnet command. */
export interface DotnetResult {
  /** Exit code (`-1` when the process could not start or was killed for taking too long). */
  code: number;
  stdout: string;
  stderr: string;
}

/** Options every helper accepts. */
export interface DotnetOptions {
  /** Resolve with a non-zero exit code instead of throwing. @defaultValue false */
  allowFailure?: boolean;
  /** NUGET_PACKAGES for this call. @defaultValue a new empty temporary folder */
  packagesDir?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Kill the command after this long. @defaultValue 600000 */
  timeoutMs?: number;
}

/** What a push or delete needs to know about the feed. `Stack` satisfies it. */
export interface DotnetFeed {
  readonly serviceIndexUrl: string;
  readonly apiKey: string;
}

/** A package reference of a consumer project, or a dependency of a packed library. */
export interface PackageRef {
  id: string;
  /** Any PackageReference version: `1.0.0`, `[1.0.0]`, `1.*`. */
  version: string;
}

/** Thrown when a dotnet command exits with a non-zero code and `allowFailure` is not set. */
export class DotnetCommandError extends Error {
  override readonly name = 'DotnetCommandError';
  readonly code = 'dotnet_failed' as const;
  readonly details: { args: string[]; cwd: string; exitCode: number; stdout: string; stderr: string };

  constructor(args: string[], cwd: string, result: DotnetResult) {
    super(
      `\`dotnet ${args.join(' ')}\` (in ${cwd}) exited with code ${result.code}\n` +
        `--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`,
    );
    this.details = { args, cwd, exitCode: result.code, stdout: result.stdout, stderr: result.stderr };
  }
}

/** Name of the nucat source in generated nuget.config files. */
export const NUCAT_SOURCE_NAME = 'nucat';

/** Target framework of generated projects. */
export const TARGET_FRAMEWORK = 'net10.0';

let scratchRoot: string | undefined;

/** A new empty folder under this process's scratch root (removed by {@link removeDotnetScratch} or at exit). */
export async function makeScratchDir(prefix: string): Promise<string> {
  if (scratchRoot === undefined) {
    const root = mkdtempSync(join(tmpdir(), 'nucat-e2e-dotnet-'));
    scratchRoot = root;
    process.once('exit', () => rmSync(root, { recursive: true, force: true }));
  }
  return mkdtemp(join(scratchRoot, `${prefix}-`));
}

/** Removes every folder {@link makeScratchDir} made (call it in `afterAll`). */
export async function removeDotnetScratch(): Promise<void> {
  if (scratchRoot === undefined) return;
  const root = scratchRoot;
  scratchRoot = undefined;
  await rm(root, { recursive: true, force: true });
}

/**
 * Runs `dotnet <args>` in `cwd` with an isolated NuGet environment: telemetry and first-run output off,
 * English messages, a private NUGET_PACKAGES and NUGET_HTTP_CACHE_PATH, no build servers left running
 * (they would keep the output pipes open), offline certificate revocation checks. HOME is kept.
 *
 * @throws DotnetCommandError (code `dotnet_failed`) on a non-zero exit unless `allowFailure` is set.
 */
export async function runDotnet(args: string[], cwd: string, options: DotnetOptions = {}): Promise<DotnetResult> {
  const packagesDir = options.packagesDir ?? (await makeScratchDir('nuget-packages'));
  const httpCache = await makeScratchDir('nuget-http-cache');
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    // Credentials or keys from the developer's shell must not leak into the isolated client.
    if (value === undefined || key.startsWith('NuGetPackageSourceCredentials_') || key === 'NUGET_API_KEY') continue;
    env[key] = value;
  }
  Object.assign(env, {
    DOTNET_CLI_TELEMETRY_OPTOUT: '1',
    DOTNET_NOLOGO: '1',
    DOTNET_SKIP_FIRST_TIME_EXPERIENCE: '1',
    DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE: '1',
    DOTNET_GENERATE_ASPNET_CERTIFICATE: 'false',
    DOTNET_CLI_UI_LANGUAGE: 'en',
    NUGET_PACKAGES: packagesDir,
    NUGET_HTTP_CACHE_PATH: httpCache,
    NUGET_CERT_REVOCATION_MODE: 'offline',
    MSBUILDDISABLENODEREUSE: '1',
    MSBUILDTERMINALLOGGER: 'off',
    DOTNET_CLI_USE_MSBUILD_SERVER: '0',
    UseSharedCompilation: 'false',
    ...options.env,
  });
  const result = await spawnCollect('dotnet', args, cwd, env, options.timeoutMs ?? 600_000);
  if (result.code !== 0 && !options.allowFailure) throw new DotnetCommandError(args, cwd, result);
  return result;
}

function spawnCollect(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<DotnetResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let done = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const finish = (code: number): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    };
    const timer = setTimeout(() => {
      stderr += `\n[e2e] killed after ${timeoutMs} ms`;
      child.kill('SIGKILL');
      finish(-1);
    }, timeoutMs);
    child.once('error', (error) => {
      stderr += `\n[e2e] could not run ${command}: ${error.message}`;
      finish(-1);
    });
    child.once('close', (code, signal) => finish(code ?? (signal ? 128 : -1)));
    // A grandchild that inherited the pipes can hold them open after dotnet exits; do not wait on it forever.
    child.once('exit', (code, signal) => {
      setTimeout(() => finish(code ?? (signal ? 128 : -1)), 2_000).unref();
    });
  });
}

/**
 * Writes `<dir>/nuget.config` with `<clear/>` and a single source `nucat` (protocol 3,
 * `allowInsecureConnections="true"`, which SDK 9+ requires for an http:// source), optionally with
 * clear-text credentials for it. Pass no URL to get a config with no sources at all.
 * @returns the path written.
 */
export async function writeNugetConfig(
  dir: string,
  serviceIndexUrl: string | undefined,
  options: { credentials?: { username: string; password: string } } = {},
): Promise<string> {
  const lines = [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<configuration>',
    '  <packageSources>',
    '    <clear />',
  ];
  if (serviceIndexUrl !== undefined) {
    lines.push(
      `    <add key="${NUCAT_SOURCE_NAME}" value="${xml(serviceIndexUrl)}" protocolVersion="3" allowInsecureConnections="true" />`,
    );
  }
  lines.push('  </packageSources>', '  <disabledPackageSources>', '    <clear />', '  </disabledPackageSources>');
  if (serviceIndexUrl !== undefined && options.credentials) {
    lines.push(
      '  <packageSourceCredentials>',
      `    <${NUCAT_SOURCE_NAME}>`,
      `      <add key="Username" value="${xml(options.credentials.username)}" />`,
      `      <add key="ClearTextPassword" value="${xml(options.credentials.password)}" />`,
      `    </${NUCAT_SOURCE_NAME}>`,
      '  </packageSourceCredentials>',
    );
  }
  lines.push('</configuration>', '');
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'nuget.config');
  await writeFile(path, lines.join('\n'));
  return path;
}

/**
 * `dotnet nuget push <nupkg> -s <service index> -k <api key> [extraArgs]`, run from a scratch folder whose
 * nuget.config declares the source (the client refuses to push to http:// unless the matching source
 * allows insecure connections).
 */
export async function dotnetPush(
  nupkgPath: string,
  feed: DotnetFeed,
  extraArgs: string[] = [],
  options: DotnetOptions = {},
): Promise<DotnetResult> {
  const cwd = await makeScratchDir('push');
  await writeNugetConfig(cwd, feed.serviceIndexUrl);
  return runDotnet(['nuget', 'push', nupkgPath, '-s', feed.serviceIndexUrl, '-k', feed.apiKey, ...extraArgs], cwd, options);
}

/** `dotnet nuget delete <id> <version> -s <service index> -k <api key> --non-interactive` (unlist on nucat). */
export async function dotnetDelete(
  id: string,
  version: string,
  feed: DotnetFeed,
  options: DotnetOptions = {},
): Promise<DotnetResult> {
  const cwd = await makeScratchDir('delete');
  await writeNugetConfig(cwd, feed.serviceIndexUrl);
  return runDotnet(
    ['nuget', 'delete', id, version, '-s', feed.serviceIndexUrl, '-k', feed.apiKey, '--non-interactive'],
    cwd,
    options,
  );
}

/** Options of {@link packLibrary}. */
export interface PackLibraryOptions extends DotnetOptions {
  /** Project folder (created if missing); the packages go to `<dir>/out`. */
  dir: string;
  id: string;
  version: string;
  /** PackageReferences, which become the package's dependencies. They must be restorable from `source`. */
  dependencies?: PackageRef[];
  /** Also produce a `.snupkg`. @defaultValue false */
  includeSymbols?: boolean;
  /** Service index to restore `dependencies` from. @defaultValue none (nuget.config with no sources: no network) */
  source?: string;
}

/**
 * Writes a tiny net10.0 class library (one `.cs` file) and runs `dotnet pack -o <dir>/out`.
 * @returns the command's output with the `.nupkg` path, and the `.snupkg` path when `includeSymbols` is set;
 *   `nupkg` is `''` when the pack failed and `allowFailure` was set.
 */
export async function packLibrary(options: PackLibraryOptions): Promise<{ nupkg: string; snupkg?: string } & DotnetResult> {
  const { dir, id, version } = options;
  await mkdir(dir, { recursive: true });
  await writeNugetConfig(dir, options.source);
  const properties = [
    `<TargetFramework>${TARGET_FRAMEWORK}</TargetFramework>`,
    `<PackageId>${xml(id)}</PackageId>`,
    `<Version>${xml(version)}</Version>`,
    '<Authors>nucat e2e</Authors>',
    `<Description>End-to-end test library ${xml(id)}.</Description>`,
    '<ImplicitUsings>disable</ImplicitUsings>',
    '<Nullable>enable</Nullable>',
    `<RootNamespace>${csharpIdentifier(id)}</RootNamespace>`,
    ...(options.includeSymbols ? ['<IncludeSymbols>true</IncludeSymbols>', '<SymbolPackageFormat>snupkg</SymbolPackageFormat>'] : []),
  ];
  const references = (options.dependencies ?? []).map(
    (d) => `    <PackageReference Include="${xml(d.id)}" Version="${xml(d.version)}" />`,
  );
  await writeFile(
    join(dir, 'Library.csproj'),
    [
      '<Project Sdk="Microsoft.NET.Sdk">',
      '  <PropertyGroup>',
      ...properties.map((p) => `    ${p}`),
      '  </PropertyGroup>',
      ...(references.length > 0 ? ['  <ItemGroup>', ...references, '  </ItemGroup>'] : []),
      '</Project>',
      '',
    ].join('\n'),
  );
  await writeFile(
    join(dir, 'Greeter.cs'),
    [
      `namespace ${csharpIdentifier(id)};`,
      '',
      'public static class Greeter',
      '{',
      `    public static string Hello() => "Hello from ${id.replace(/["\\]/g, '')} ${version.replace(/["\\]/g, '')}";`,
      '}',
      '',
    ].join('\n'),
  );
  const outDir = join(dir, 'out');
  await rm(outDir, { recursive: true, force: true });
  const result = await runDotnet(['pack', '-c', 'Release', '-o', outDir], dir, options);
  if (result.code !== 0) return { ...result, nupkg: '' };
  const files = await readdir(outDir);
  const nupkg = files.find((f) => f.endsWith('.nupkg') && !f.endsWith('.symbols.nupkg'));
  const snupkg = files.find((f) => f.endsWith('.snupkg'));
  if (nupkg === undefined) throw new Error(`dotnet pack reported success but wrote no .nupkg to ${outDir}: ${files.join(', ')}`);
  if (options.includeSymbols && snupkg === undefined) {
    throw new Error(`dotnet pack was asked for symbols but wrote no .snupkg to ${outDir}: ${files.join(', ')}`);
  }
  return { ...result, nupkg: join(outDir, nupkg), ...(snupkg ? { snupkg: join(outDir, snupkg) } : {}) };
}

/** Options of {@link createConsumerProject}. */
export interface ConsumerProjectOptions {
  /** Project folder (created if missing). */
  dir: string;
  /** PackageReferences. */
  references: PackageRef[];
  /**
   * Make it a test project (IsTestProject, one trivial xunit `[Fact]`); `references` must then include
   * Microsoft.NET.Test.Sdk, xunit and xunit.runner.visualstudio. @defaultValue false
   */
  test?: boolean;
  /** When given, also writes a nuget.config whose only source is this service index. */
  source?: string;
}

/** Writes `<dir>/Consumer.csproj` (net10.0) with the given PackageReferences and one `.cs` file. */
export async function createConsumerProject(options: ConsumerProjectOptions): Promise<void> {
  const { dir } = options;
  await mkdir(dir, { recursive: true });
  if (options.source !== undefined) await writeNugetConfig(dir, options.source);
  const properties = [
    `<TargetFramework>${TARGET_FRAMEWORK}</TargetFramework>`,
    '<ImplicitUsings>disable</ImplicitUsings>',
    '<Nullable>enable</Nullable>',
    '<IsPackable>false</IsPackable>',
    ...(options.test ? ['<IsTestProject>true</IsTestProject>'] : []),
  ];
  const references = options.references.map(
    (r) => `    <PackageReference Include="${xml(r.id)}" Version="${xml(r.version)}" />`,
  );
  await writeFile(
    join(dir, 'Consumer.csproj'),
    [
      '<Project Sdk="Microsoft.NET.Sdk">',
      '  <PropertyGroup>',
      ...properties.map((p) => `    ${p}`),
      '  </PropertyGroup>',
      ...(references.length > 0 ? ['  <ItemGroup>', ...references, '  </ItemGroup>'] : []),
      '</Project>',
      '',
    ].join('\n'),
  );
  const source = options.test
    ? [
        'using Xunit;',
        '',
        'namespace Consumer;',
        '',
        'public class SmokeTests',
        '{',
        '    [Fact]',
        '    public void AddsNumbers() => Assert.Equal(4, 2 + 2);',
        '}',
        '',
      ]
    : ['namespace Consumer;', '', 'public static class Marker', '{', '}', ''];
  await writeFile(join(dir, options.test ? 'SmokeTests.cs' : 'Marker.cs'), source.join('\n'));
}

/**
 * `dotnet restore` in `dir` (the project's own nuget.config decides the sources).
 * `noCache` adds `--no-http-cache` (each call also gets a fresh HTTP cache and packages folder anyway);
 * `force` adds `--force`, so a second restore of the same project is never skipped as up to date.
 */
export async function dotnetRestore(
  dir: string,
  options: DotnetOptions & { noCache?: boolean; force?: boolean } = {},
): Promise<DotnetResult> {
  const args = ['restore', ...(options.noCache ? ['--no-http-cache'] : []), ...(options.force ? ['--force'] : [])];
  return runDotnet(args, dir, options);
}

/** `dotnet test` in `dir` (restores, builds and runs the tests). */
export async function dotnetTest(dir: string, options: DotnetOptions = {}): Promise<DotnetResult> {
  return runDotnet(['test'], dir, options);
}

/** The parts of `obj/project.assets.json` the tests look at. */
export interface ProjectAssets {
  /** `"<Id>/<version>"` → library entry; `type` is `package` for packages. */
  libraries: Record<string, { type: string; path?: string; sha512?: string }>;
  project: { restore?: { sources?: Record<string, unknown> } };
}

/** Reads `<dir>/obj/project.assets.json` written by restore. */
export async function readProjectAssets(dir: string): Promise<ProjectAssets> {
  const path = join(dir, 'obj', 'project.assets.json');
  return JSON.parse(await readFile(path, 'utf8')) as ProjectAssets;
}

/**
 * The packages a restore resolved, from `obj/project.assets.json`.
 * @returns lowercased id → version as written in the assets file.
 */
export async function readResolvedPackages(dir: string): Promise<Map<string, string>> {
  const assets = await readProjectAssets(dir);
  const resolved = new Map<string, string>();
  for (const [key, library] of Object.entries(assets.libraries)) {
    if (library.type !== 'package') continue;
    const slash = key.indexOf('/');
    resolved.set(key.slice(0, slash).toLowerCase(), key.slice(slash + 1));
  }
  return resolved;
}

function csharpIdentifier(id: string): string {
  const parts = id.split('.').map((p) => p.replace(/[^A-Za-z0-9_]/g, '_').replace(/^(\d)/, '_$1'));
  return parts.filter((p) => p.length > 0).join('.') || 'Library';
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
