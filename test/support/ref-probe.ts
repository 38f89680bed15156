/**
 * A program whose only handles are piwire sockets on the real-time loop, for the
 * ref/unref test (test/socket/ref.test.ts). Two stacks in memory, a server and a
 * connected client; then:
 *   `ref`:   an unref'd 300 ms timer, which can fire only if the sockets keep the process
 *            alive; it prints `alive`, unrefs everything, and the process must then exit;
 *   `unref`: unrefs the server and both sockets at once; the process must exit without
 *            the timer ever firing.
 * Prints `connected` first. Exit status 0 when the process ends on its own.
 */
import { createRealtimePair, DEVICE_IP } from './realtime-pair.ts';
import type { Socket } from '../../src/socket/socket.ts';

const mode = process.argv[2];
const pair = createRealtimePair();
let accepted: Socket | undefined;
const server = pair.device.net.createServer((socket) => (accepted = socket));
server.listen(7000);
const client = pair.peer.net.connect({ host: DEVICE_IP, port: 7000 });
const unrefAll = (): void => {
  server.unref();
  client.unref();
  accepted?.unref();
};
client.on('connect', () => {
  // The accepted side is announced in the same turn or the next.
  setImmediate(() => {
    process.stdout.write(`connected ${accepted ? 'accepted' : 'not-accepted'}\n`);
    if (mode === 'unref') unrefAll();
    setTimeout(() => {
      process.stdout.write('alive\n');
      unrefAll();
    }, 300).unref();
  });
});
