/** `HH:MM` (00:00 to 24:00) → minutes since midnight, or null. */
export function parseClock(text: string): number | null {
  const m = /^([01][0-9]|2[0-4]):([0-5][0-9])$/.exec(text);
  if (!m) return null;
  const minutes = Number(m[1]) * 60 + Number(m[2]);
  return minutes > 24 * 60 ? null : minutes;
}

/** Minutes since midnight UTC of an instant (ms since the epoch). */
export function minuteOfDayUtc(ms: number): number {
  const day = 24 * 60;
  return ((Math.floor(ms / 60_000) % day) + day) % day;
}

/**
 * Whether a minute of the day lies in [from, to). A window whose `from` is after its `to` wraps
 * midnight (22:00 → 06:00 is the night).
 */
export function inWindow(minute: number, from: number, to: number): boolean {
  return from < to ? minute >= from && minute < to : minute >= from || minute < to;
}

export function formatClock(minute: number): string {
  return `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
}
