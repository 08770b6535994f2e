/** The header a client may shorten its request's deadline with (milliseconds). */
export const DEADLINE_HEADER = 'x-wardwright-deadline-ms';
/** The longest a chat request may take in all, by default: ten minutes. */
export const DEFAULT_DEADLINE_MS = 600_000;
