// Runs the federa CLI from source (tests spawn `node --import tsx test/deploy/helpers/cli.ts <command> ...`).
import { main } from '../../../src/cli/main.js';

await main();
