/**
 * The closed set of errors the stack's API raises, with Node-style codes so that
 * code written for `node:net` handles them unchanged (`err.code === 'ECONNRESET'`).
 * Untrusted input never produces these: parsers return error values instead.
 */
export const ErrorCode = {
  ECONNRESET: 'ECONNRESET',
  ECONNREFUSED: 'ECONNREFUSED',
  ETIMEDOUT: 'ETIMEDOUT',
  EADDRINUSE: 'EADDRINUSE',
  EADDRNOTAVAIL: 'EADDRNOTAVAIL',
  ECONNABORTED: 'ECONNABORTED',
  EPIPE: 'EPIPE',
  ENOBUFS: 'ENOBUFS',
  EHOSTUNREACH: 'EHOSTUNREACH',
  ENETUNREACH: 'ENETUNREACH',
  EINVAL: 'EINVAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class NetError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'NetError';
    this.code = code;
  }
}
