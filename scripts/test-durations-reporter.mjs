// A node:test reporter for scripts/run-tests.mjs: one JSON line per test file with its duration
// and outcome (the runner's file-level events carry the file path as their name).
export default async function* fileDurations(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail' && event.type !== 'test:complete') continue;
    const d = event.data ?? {};
    if (!d.file || d.name !== d.file) continue;
    yield JSON.stringify({ file: d.file, ms: d.details?.duration_ms ?? 0, event: event.type, failed: event.type === 'test:fail' || d.details?.passed === false }) + '\n';
  }
}
