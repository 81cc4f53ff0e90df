/**
 * The logging interface the core writes to: pino's `(fields, message)` shape, so a pino logger
 * plugs in directly in Node while browsers and tests use the small loggers here.
 */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

const noop = () => {};
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/** Collects log entries in memory; tests assert on them. */
export class MemoryLogger implements Logger {
  readonly entries: Array<{ level: 'debug' | 'info' | 'warn' | 'error'; fields: object; message: string }> = [];
  debug(fields: object, message = ''): void {
    this.entries.push({ level: 'debug', fields, message });
  }
  info(fields: object, message = ''): void {
    this.entries.push({ level: 'info', fields, message });
  }
  warn(fields: object, message = ''): void {
    this.entries.push({ level: 'warn', fields, message });
  }
  error(fields: object, message = ''): void {
    this.entries.push({ level: 'error', fields, message });
  }
}
