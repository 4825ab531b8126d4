/**
 * Lines to stdout for commands whose output is piped (`vigil audit query --json | head`): once the
 * reader closes the pipe, writes stop and `closed` says so, instead of an EPIPE crash.
 */
export function stdoutLines(): { write: (line: string) => void; readonly closed: boolean } {
  let closed = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') closed = true;
    else throw err;
  });
  return {
    write(line) {
      if (!closed) process.stdout.write(line + '\n');
    },
    get closed() {
      return closed;
    },
  };
}
