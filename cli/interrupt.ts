/** Ctrl-C (or a SIGTERM from a supervisor): the first asks for a clean stop, the second forces it. */
export interface InterruptWatch {
  /** Aborted on the first signal; its reason is an Interrupted error. */
  signal: AbortSignal;
  received(): NodeJS.Signals | undefined;
  /** The exit code a signal conventionally gives (128 + its number). */
  exitCode(): number;
  dispose(): void;
}

export class Interrupted extends Error {
  override name = 'Interrupted';
  constructor(readonly signalName: NodeJS.Signals) {
    super(`interrupted by ${signalName}`);
  }
}

const SAME_PRESS_MS = 500;
const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

export function watchInterrupts(onForce: () => void = () => undefined): InterruptWatch {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  let receivedAt = 0;
  const handler = (signal: NodeJS.Signals) => {
    // One Ctrl-C can arrive twice: from the terminal to the whole process group, and forwarded
    // by `npm run` to its child. Only a later one means "stop now".
    if (received !== undefined && Date.now() - receivedAt < SAME_PRESS_MS) return;
    if (received !== undefined) {
      // Second signal: the user does not want to wait for the clean stop.
      onForce();
      process.exit(128 + (SIGNAL_NUMBERS[signal] ?? 2));
    }
    received = signal;
    receivedAt = Date.now();
    controller.abort(new Interrupted(signal));
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, handler);
  return {
    signal: controller.signal,
    received: () => received,
    exitCode: () => 128 + (received ? (SIGNAL_NUMBERS[received] ?? 2) : 2),
    dispose() {
      for (const s of signals) process.off(s, handler);
    },
  };
}
