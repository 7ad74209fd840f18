/**
 * Text bound for a terminal may carry what events and servers sent: an ESC or OSC sequence could
 * recolour, retitle or rewrite the screen, a bidi override could reorder what a user reads. Every
 * such character is shown as its escape instead (`\x1b`, `\u202e`); tab and newline stay.
 */
// C0 controls but tab and newline, DEL, C1 controls, and the Unicode bidi embeddings and isolates.
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g

export function forTerminal(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0)
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
  })
}
