/**
 * `npm run config:check -- [file]`: validates a stage config (default: STAGEFLOW_CONFIG, else the default pipeline)
 * and prints its summary, or prints every error with its location and exits 1.
 */
import { checkConfigFile, resolveConfigFile } from '../functions/adapters/config-files.ts';

const { ok, output } = checkConfigFile(resolveConfigFile(process.argv[2]));
(ok ? process.stdout : process.stderr).write(`${output}\n`);
process.exitCode = ok ? 0 : 1;
