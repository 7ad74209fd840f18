/** The only error the CLI entry turns into an exit code; everything else is a bug and prints its stack. */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message)
    this.name = 'ExitError'
  }
}
