// Reads the KTX2 files given with ktx-parse and prints, as JSON, what it
// found in each: header fields, DFD, keys, and each level's byte lengths
// and SHA-256. assets/ktx2_interop_test.go compares it with what it wrote.
import { read } from 'ktx-parse';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const out = process.argv.slice(2).map((path) => {
  const c = read(readFileSync(path));
  const d = c.dataFormatDescriptor[0];
  return {
    vkFormat: c.vkFormat, typeSize: c.typeSize, pixelWidth: c.pixelWidth, pixelHeight: c.pixelHeight,
    levelCount: c.levelCount, supercompressionScheme: c.supercompressionScheme,
    colorModel: d.colorModel, transferFunction: d.transferFunction, texelBlockDimension: d.texelBlockDimension,
    keys: Object.keys(c.keyValue),
    levels: c.levels.map((l) => ({ byteLength: l.levelData.byteLength, uncompressedByteLength: l.uncompressedByteLength,
      sha256: createHash('sha256').update(l.levelData).digest('hex') })),
  };
});
console.log(JSON.stringify(out));
