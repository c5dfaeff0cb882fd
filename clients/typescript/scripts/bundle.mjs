// Bundles the SDK into one ES module for pages that load it without a build step: the web
// consoles serve it as /console/assets/fitpulse-client.js. The bundle is committed (the
// server embeds it); `npm run build` rewrites it and CI checks it is current (BUNDLE_OUT
// writes elsewhere for that comparison).
import { build } from "esbuild";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
await build({
  entryPoints: [resolve(root, "src/index.ts")],
  outfile: process.env.BUNDLE_OUT || resolve(root, "../../web/console/assets/fitpulse-client.js"),
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "neutral",
  legalComments: "none",
  banner: { js: "// @fitpulse/client, bundled by clients/typescript/scripts/bundle.mjs. Do not edit." },
  logLevel: "warning",
});
