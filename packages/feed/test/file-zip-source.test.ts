/**
 * The file-backed ZipSource the publish API reads uploads with: real packages read from a file
 * exactly as from a Buffer, reads stay small whatever the package size, and a file that changes
 * under the reader fails loudly (an I/O error, not a refused package).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidPackageError, readNupkg, readNupkgFrom } from '@nucat/nuget';
import { openFileZipSource, readNupkgFile, WHOLE_FILE_READ_BYTES } from '../src/file-zip-source.js';
import { nuspecXml, writeZip } from '@nucat/testing';

const REAL_PACKAGES = '/opt/nuget/packages';
const MiB = 1024 * 1024;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nucat-zip-source-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function realPackageFiles(): string[] {
  if (!existsSync(REAL_PACKAGES)) return [];
  return readdirSync(REAL_PACKAGES).flatMap((lowerId) =>
    readdirSync(join(REAL_PACKAGES, lowerId)).flatMap((version) =>
      readdirSync(join(REAL_PACKAGES, lowerId, version))
        .filter((f) => f.endsWith('.nupkg'))
        .map((f) => join(REAL_PACKAGES, lowerId, version, f)),
    ),
  );
}

describe.skipIf(!existsSync(REAL_PACKAGES))('openFileZipSource: real packages', () => {
  it.each(realPackageFiles())('reads %s from the file exactly as readNupkg reads it from a Buffer', async (file) => {
    expect(await readNupkgFile(file)).toEqual(readNupkg(readFileSync(file)));
  });
});

describe('openFileZipSource', () => {
  it('reads a 64 MiB package in small reads', async () => {
    const file = join(dir, 'big.nupkg');
    const zip = writeZip({
      entries: [
        { name: 'Contoso.Big.nuspec', data: nuspecXml({ id: 'Contoso.Big' }) },
        { name: 'content/big.bin', data: randomBytes(64 * MiB), method: 'stored' },
      ],
    });
    await writeFile(file, zip);
    const source = await openFileZipSource(file);
    const reads: number[] = [];
    try {
      const contents = await readNupkgFrom({ size: source.size, read: (offset, length) => (reads.push(length), source.read(offset, length)) });
      expect(contents.manifest.id).toBe('Contoso.Big');
    } finally {
      await source.close();
    }
    expect(source.size).toBe(zip.length);
    expect(Math.max(...reads)).toBeLessThan(70 * 1024);
    expect(reads.reduce((a, b) => a + b, 0)).toBeLessThan(128 * 1024);
  });

  it('reads a small package with one read of the whole file, then from memory', async () => {
    const file = join(dir, 'small.nupkg');
    const zip = writeZip({ entries: [{ name: 'Contoso.Small.nuspec', data: nuspecXml({ id: 'Contoso.Small' }) }] });
    await writeFile(file, zip);
    const source = await openFileZipSource(file);
    await rm(file); // nothing is read from the file any more
    try {
      expect((await readNupkgFrom(source)).manifest.id).toBe('Contoso.Small');
      await expect(source.read(zip.length - 1, 2)).rejects.toThrow(RangeError);
    } finally {
      await source.close();
    }
  });

  it('fails with an I/O error, not a refused package, when the file shrinks under the reader', async () => {
    const file = join(dir, 'shrinks.nupkg');
    // Larger than WHOLE_FILE_READ_BYTES, so it is read piece by piece.
    await writeFile(
      file,
      writeZip({
        entries: [
          { name: 'Contoso.Shrinks.nuspec', data: nuspecXml({ id: 'Contoso.Shrinks' }) },
          { name: 'content/filler.bin', data: randomBytes(WHOLE_FILE_READ_BYTES + 1), method: 'stored' },
        ],
      }),
    );
    const source = await openFileZipSource(file);
    try {
      await truncate(file, 10);
      const error: unknown = await readNupkgFrom(source).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(InvalidPackageError);
      expect((error as Error).message).toMatch(/shrinks\.nupkg ended at \d+ bytes/);
    } finally {
      await source.close();
    }
  });

  it('refuses a file that is not a zip as an invalid package', async () => {
    const file = join(dir, 'text.nupkg');
    await writeFile(file, 'just text, not a zip archive');
    await expect(readNupkgFile(file)).rejects.toBeInstanceOf(InvalidPackageError);
  });
});
