// Every child process a test spawns is tracked here and killed unconditionally: in a root `after`
// hook of the test file (which runs also when a test failed or timed out), and when the process
// exits or gets SIGINT/SIGTERM (a file ended by --test-force-exit, by the runner's file timeout or
// by hand leaves no server, client or redis-server behind). Chromium is playwright's: it kills
// its browsers' process groups on exit itself.
import type { ChildProcess } from 'node:child_process';
import { after } from 'node:test';

const children = new Set<ChildProcess>();

export function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** SIGKILLs every tracked child that is still running. */
export function killAllChildren(): void {
  for (const child of children) {
    if (alive(child)) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

let hooksInstalled = false;
function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllChildren);
  // Exit (not re-raise): another library's handler (playwright's graceful close) would otherwise
  // keep the process alive; exiting runs the 'exit' handlers, ours and playwright's kill.
  process.once('SIGINT', () => process.exit(130));
  process.once('SIGTERM', () => process.exit(143));
  // Only inside the test runner (its file processes have NODE_TEST_CONTEXT set): a root hook.
  if (process.env.NODE_TEST_CONTEXT) after(killAllChildren);
}
installHooks();

/** Tracks a child spawned elsewhere (e.g. with node:child_process directly) for the same cleanup. */
export function track<C extends ChildProcess>(child: C): C {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

