import { type BundlingOptions, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BuildOptions } from 'esbuild';

/**
 * How every Stageflow function is bundled, in one place: CDK deploys with `functionBundling`, and the benchmark builds
 * the same bundle with `esbuildOptions` to measure what actually deploys.
 */

/** esbuild's ESM output cannot `require()` Node built-ins that the AWS SDK still requires; this gives it one. */
export const ESM_REQUIRE_BANNER =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/** The Node.js the functions run on (the nodejs24.x Lambda runtime). */
export const NODE_TARGET = 'node24';

/** ESM entry points first, so esbuild can tree-shake the AWS SDK v3 and Powertools. */
const MAIN_FIELDS = ['module', 'main'];

/**
 * The bundling of every function: minified ESM, without source maps. `--enable-source-maps` costs the webhook
 * bundle (a 3 MB map) a median import of about 1,080 ms against 700 ms without it (docs/decisions.md). Errors are named classes logged with their message and cause, which is
 * what an operator reads; a stack trace can be mapped offline by building the same commit with `sourcemap: true`.
 *
 * The AWS SDK is bundled (`externalModules: []`) rather than taken from the Lambda runtime: the runtime's copy is
 * updated by AWS without notice, so the code that runs would differ from the code tested here and from the pinned
 * versions in package-lock.json. Bundling makes a deploy reproducible; it costs bundle size and import time, which
 * the benchmark measures (`bundle_kb`, `cold_init_ms`) on exactly this bundle.
 *
 * Bundling runs with the project's own esbuild; Docker is never used (`forceDockerBundling: false`).
 */
export const functionBundling = {
  format: OutputFormat.ESM,
  target: NODE_TARGET,
  mainFields: MAIN_FIELDS,
  minify: true,
  sourceMap: false,
  banner: ESM_REQUIRE_BANNER,
  bundleAwsSDK: true,
  externalModules: [],
  forceDockerBundling: false,
} as const satisfies BundlingOptions;

/**
 * The esbuild options equivalent to `functionBundling` (what CDK passes to esbuild), for building a function's
 * bundle outside CDK.
 * @param entry - the handler file, e.g. `functions/webhook/handler.ts`
 * @param outfile - where to write the bundle, e.g. `bench/.bundles/webhook/index.mjs` (CDK names it `index.mjs`)
 */
export function esbuildOptions(entry: string, outfile: string): BuildOptions {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: functionBundling.format,
    target: functionBundling.target,
    mainFields: [...functionBundling.mainFields],
    minify: functionBundling.minify,
    sourcemap: functionBundling.sourceMap,
    banner: { js: functionBundling.banner },
    external: [...functionBundling.externalModules],
  };
}
