// Validate .glb files with the Khronos glTF validator; prints one JSON report per file.
// Usage: node web/validate.mjs FILE.glb [...]
import { readFile } from "node:fs/promises";
import validator from "gltf-validator";

const results = [];
for (const path of process.argv.slice(2)) {
  const data = new Uint8Array(await readFile(path));
  const report = await validator.validateBytes(data, { maxIssues: 100 });
  results.push({ path, issues: report.issues, info: report.info });
}
console.log(JSON.stringify(results));
