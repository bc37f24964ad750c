import pino, { type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Braid's logger: JSON lines on stderr by default (for log collectors), pretty
 * lines when stderr is a terminal. BRAID_LOG_FORMAT=json|pretty overrides;
 * BRAID_LOG_LEVEL sets the level when the caller gives none.
 */
export function createLogger(name: string, level?: LevelWithSilent): Logger {
  const lvl = (level ?? process.env.BRAID_LOG_LEVEL ?? 'info') as LevelWithSilent;
  const format = process.env.BRAID_LOG_FORMAT ?? (process.stderr.isTTY ? 'pretty' : 'json');
  if (format === 'pretty') {
    return pino({
      name,
      level: lvl,
      transport: {
        target: 'pino-pretty',
        options: { destination: 2, colorize: true, translateTime: 'HH:MM:ss.l' },
      },
    });
  }
  return pino({ name, level: lvl }, pino.destination(2));
}
