/**
 * A loopback TCP port that refuses every connection: port 1 is privileged and no test binds it, so a
 * connection fails at once with ECONNREFUSED. Use it for "the server is down" cases; a {@link freePort}
 * can be bound by a concurrent test in the meantime, and then the failure is whatever that server says.
 */
export const REFUSING_PORT = 1;
