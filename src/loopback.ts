// The loopback host names, written once: the configuration's rules for serving beyond loopback,
// the default HTTP auth mode, and the Host names the HTTP server accepts by default all read them.

export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', 'localhost', '::1'];

export const isLoopback = (host: string): boolean => LOOPBACK_HOSTS.includes(host);

/** As a Host header names them: an IPv6 address in brackets ([::1]) as well as bare. */
export const LOOPBACK_HOST_NAMES: readonly string[] = LOOPBACK_HOSTS.flatMap((host) =>
  host.includes(':') ? [`[${host}]`, host] : [host],
);
