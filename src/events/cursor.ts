// A cursor names an event's place in the stream: its sequence number. It is opaque to clients
// (base64url of "v1:<seq>"), versioned so that the encoding can change without breaking old ones.

export function encodeCursor(seq: number): string {
  return Buffer.from(`v1:${seq}`).toString('base64url');
}

/** The stream sequence a cursor names, or undefined when the text is not a cursor. */
export function decodeCursor(cursor: string): number | undefined {
  if (cursor.length > 32 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  const match = /^v1:(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) return undefined;
  const seq = Number(match[1]);
  return Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
}
