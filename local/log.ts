// The local cloud's own log lines. Every warning (a template feature not emulated, a Node.js
// other than the runtime's, a background task that failed) starts with WARNING_PREFIX, so a
// reader of the log can pick them out with one test.

export const WARNING_PREFIX = '[local] warning: ';

/** A warning line: `[local] warning: <text>`. */
export function warning(text: string): string {
  return `${WARNING_PREFIX}${text}`;
}
