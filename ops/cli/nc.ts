/**
 * `braid nc`: netcat over Braid. By default an application on the local
 * `braid node` (the SDK over shared memory; with the kernel's MPTCP, else
 * TCP, when no node is there unless --fallback none); --kernel uses the
 * kernel's TCP directly. stdin goes to the connection, the connection to
 * stdout; the end of stdin ends our side (FIN); the peer's end ends ours
 * too and exits.
 */
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import { connect, createServer, defaultSocketPath, detachAll } from '../../sdk/src/index';

const HELP = `Usage: braid nc [options] HOST PORT      connect
       braid nc [options] -l PORT           accept one connection

  -l, --listen          listen on PORT (one connection, then exit)
  -s, --source ADDR     listen address / local address (default any)
  --kernel              the kernel's TCP (node:net), not the SDK
  --socket PATH         the node's app socket (default $BRAID_APP_SOCKET or
                        /run/braid/app.sock)
  --fallback none       fail when no node is there (default: the kernel's
                        MPTCP, else TCP)
  --subflows N --scheduler NAME --path-manager NAME --cc NAME
                        per-connection options for the node
  -v, --verbose         say on stderr which path the connection took
  -h, --help            this help
`;

function pipeStd(sock: Duplex, verbose: () => string | undefined): Promise<number> {
  return new Promise((resolve) => {
    const v = verbose();
    if (v) process.stderr.write(`braid nc: ${v}\n`);
    process.stdin.pipe(sock);
    sock.pipe(process.stdout);
    sock.on('error', (e: NodeJS.ErrnoException) => {
      process.stderr.write(`braid nc: ${e.code ? e.code + ': ' : ''}${e.message}\n`);
      resolve(1);
    });
    sock.on('close', () => resolve(0));
    // The peer is done: so are we (like nc -N), then exit once closed.
    sock.on('end', () => {
      process.stdin.unpipe(sock);
      sock.end();
    });
  });
}

export async function ncMain(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'boolean', short: 'l' },
      source: { type: 'string', short: 's' },
      kernel: { type: 'boolean' },
      socket: { type: 'string' },
      fallback: { type: 'string' },
      subflows: { type: 'string' },
      scheduler: { type: 'string' },
      'path-manager': { type: 'string' },
      cc: { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const port = Number(values.listen ? positionals[0] : positionals[1]);
  const host = values.listen ? undefined : positionals[0];
  if (!Number.isInteger(port) || port < 1 || port > 65535 || (!values.listen && !host)) {
    process.stderr.write(`braid nc: give HOST PORT, or -l PORT\n\n${HELP}`);
    return 2;
  }
  if (values.fallback && values.fallback !== 'none' && values.fallback !== 'kernel') {
    process.stderr.write('braid nc: --fallback is kernel or none\n');
    return 2;
  }
  const opts = {
    socketPath: values.socket ?? defaultSocketPath(),
    fallback: (values.fallback ?? 'kernel') as 'kernel' | 'none',
    ...(values.subflows ? { subflows: Number(values.subflows) } : {}),
    ...(values.scheduler ? { scheduler: values.scheduler } : {}),
    ...(values['path-manager'] ? { pathManager: values['path-manager'] } : {}),
    ...(values.cc ? { congestionControl: values.cc } : {}),
  };
  try {
    if (values.kernel) {
      if (values.listen) {
        const sock = await new Promise<net.Socket>((resolve, reject) => {
          const srv = net.createServer((s) => {
            srv.close();
            resolve(s);
          });
          srv.once('error', reject);
          srv.listen(port, values.source);
        });
        return await pipeStd(sock, () => (values.verbose ? 'kernel-tcp' : undefined));
      }
      const sock = net.connect({ host: host!, port, localAddress: values.source });
      await new Promise<void>((resolve, reject) => {
        sock.once('connect', resolve);
        sock.once('error', reject);
      });
      return await pipeStd(sock, () => (values.verbose ? 'kernel-tcp' : undefined));
    }
    if (values.listen) {
      const srv = createServer(undefined, opts);
      const got = new Promise<Duplex & { transportPath?: string }>((resolve) =>
        srv.once('connection', resolve),
      );
      await srv.listen({ port, host: values.source, ...opts });
      if (values.verbose)
        process.stderr.write(`braid nc: listening on ${port} (${srv.transportPath})\n`);
      const sock = await got;
      srv.close();
      return await pipeStd(sock, () =>
        values.verbose ? `${srv.transportPath ?? sock.transportPath}` : undefined,
      );
    }
    const sock = connect({ host: host!, port, localAddress: values.source, ...opts });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    return await pipeStd(sock, () => (values.verbose ? sock.transportPath : undefined));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    process.stderr.write(`braid nc: ${err.code ? err.code + ': ' : ''}${err.message}\n`);
    return 1;
  } finally {
    await detachAll();
  }
}
