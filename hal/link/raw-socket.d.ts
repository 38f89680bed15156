/**
 * Types for the parts of the `raw-socket` package (npm, no types of its own) that the
 * IP-level link uses: IPv4 SOCK_RAW sockets with socket options, one packet per
 * 'message' (a view into the socket's receive buffer, valid only during the event).
 */
declare module 'raw-socket' {
  import type { EventEmitter } from 'node:events';

  export interface SocketOptions {
    protocol?: number;
    addressFamily?: number;
    bufferSize?: number;
  }

  export interface Socket extends EventEmitter {
    on(event: 'message', listener: (buffer: Buffer, source: string) => void): this;
    on(event: 'error', listener: (error: Error) => void): this;
    on(event: 'close', listener: () => void): this;
    send(
      buffer: Buffer,
      offset: number,
      length: number,
      address: string,
      afterCallback: (error: Error | null, bytes: number) => void,
    ): this;
    setOption(level: number, option: number, value: number): void;
    setOption(level: number, option: number, value: Buffer, length: number): void;
    close(): this;
  }

  export function createSocket(options: SocketOptions): Socket;

  export const AddressFamily: { IPv4: number; IPv6: number };
  export const Protocol: { None: number; ICMP: number; TCP: number; UDP: number; ICMPv6: number };
  export const SocketLevel: { SOL_SOCKET: number; IPPROTO_IP: number; IPPROTO_IPV6: number };
  export const SocketOption: { SO_BINDTODEVICE: number; IP_HDRINCL: number; SO_RCVBUF: number; SO_SNDBUF: number };

  const raw: {
    createSocket: typeof createSocket;
    AddressFamily: typeof AddressFamily;
    Protocol: typeof Protocol;
    SocketLevel: typeof SocketLevel;
    SocketOption: typeof SocketOption;
  };
  export default raw;
}
