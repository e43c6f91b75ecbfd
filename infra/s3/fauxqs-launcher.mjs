// Starts the fauxqs S3-compatible server for the platform's `local` infrastructure mode.
// fauxqs's own entry point always listens on 0.0.0.0, keeps objects in memory and caps bodies at
// 11 MiB; we need loopback only, objects on disk and room for large single-part uploads, so a
// module hook adjusts those two literals in fauxqs's app module as it loads (nothing on disk changes).
//
// Usage: node fauxqs-launcher.mjs --port N --data DIR [--host 127.0.0.1] [--body-limit-mib 1024]
import { registerHooks } from "node:module";
import { mkdirSync } from "node:fs";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    data: { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
    "body-limit-mib": { type: "string", default: "1024" },
  },
});
if (!values.port || !values.data) {
  console.error("usage: fauxqs-launcher.mjs --port N --data DIR [--host H] [--body-limit-mib M]");
  process.exit(2);
}

const bodyLimitBytes = Number(values["body-limit-mib"]) * 1_048_576;
registerHooks({
  load(url, context, nextLoad) {
    const result = nextLoad(url, context);
    if (!/\/fauxqs\/dist\/app\.js$/.test(url)) return result;
    const source = String(result.source)
      .replace('host: "0.0.0.0"', `host: ${JSON.stringify(values.host)}`)
      .replace("bodyLimit: 11 * 1_048_576", `bodyLimit: ${bodyLimitBytes}`);
    return { ...result, source };
  },
});

mkdirSync(values.data, { recursive: true });
const { startFauxqs } = await import("fauxqs");
const server = await startFauxqs({
  port: Number(values.port),
  logger: false,
  s3StorageDir: values.data,
});
console.log(`fauxqs S3 listening on ${server.address}, objects in ${values.data}`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    await server.stop?.();
    process.exit(0);
  });
}
