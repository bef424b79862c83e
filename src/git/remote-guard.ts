// Whether git may contact a remote URL, checked before every network operation: an allowed
// protocol, no credentials in the URL, and a host off loopback, private and link-local networks
// unless GIT_ALLOWED_HOSTS allows it, so a tenant's remote cannot reach services inside.
//
// Decisions:
// - The host is read as WHATWG URL reads it (2130706433, 0x7f.1, 127.1 and ①②⑦.0.0.1 are all
//   127.0.0.1; [::ffff:127.0.0.1] is ::ffff:7f00:1), and git is given that URL (`href`) for
//   http(s), so git's own parser never sees a spelling that was not checked.
// - Every address a name resolves to (dns.lookup, all) must pass: one private address refuses
//   the host. For http(s) git is pinned to the addresses checked (http.curloptResolve), so a
//   DNS answer that changes between this lookup and git's (rebinding) cannot move git. ssh://
//   and git:// cannot be pinned; they are off unless GIT_ALLOWED_PROTOCOLS turns them on.
// - Refused: IPv4 0/8, 10/8, 100.64/10 (CGNAT), 127/8, 169.254/16, 172.16/12, 192.0.0/24,
//   192.168/16, 198.18/15, 224/4 (multicast), 240/4 (reserved, broadcast); IPv6 ::/96
//   (unspecified, loopback, IPv4-compatible), 100::/64 (discard), 64:ff9b:1::/48, fc00::/7,
//   fe80::/10, fec0::/10, ff00::/8; and those IPv4 ranges inside IPv6: mapped (::ffff:0:0/96,
//   which BlockList checks against IPv4 rules itself), NAT64 (64:ff9b::/96), 6to4 (2002::/16).
// - GIT_ALLOWED_HOSTS holds names (matched as the URL names the host, with no lookup),
//   addresses and CIDR ranges (matched against each resolved address).
// - file:// has no host: GIT_ALLOWED_PROTOCOLS alone governs it.
// - An unresolvable host reads like an unreachable one (see UNREACHABLE in git-cli.ts).
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { StowageError, invalidInput } from '../errors.js';

/** The one message for every failure to reach a remote, so none tells an open port from a closed one. */
export const UNREACHABLE = 'the git remote is unreachable: retry, or check the remote url and network';

/** A remote URL that passed the checks: what git is given, and the addresses it may connect to. */
export interface CheckedRemote {
  readonly url: string;
  /** An http.curloptResolve entry (`host:port:addr,…`) pinning the host to the addresses checked. */
  readonly pin: string | undefined;
}

export type LookupAll = (host: string) => Promise<readonly { address: string; family: number }[]>;

export interface RemoteGuardOptions {
  allowedProtocols: readonly string[];
  /** GIT_ALLOWED_HOSTS: names, addresses and CIDR ranges git may contact though not public. */
  allowedHosts: readonly string[];
  timeoutMs: number;
  /** Resolves a host name to all its addresses (default dns.lookup); tests give names no resolver here knows. */
  lookup?: LookupAll | undefined;
}

export interface RemoteGuard {
  check(url: string, signal?: AbortSignal): Promise<CheckedRemote>;
  /** Whether `remote` came from `check`: network commands run only with one. */
  issued(remote: CheckedRemote | undefined): boolean;
}

const REFUSED_V4: [string, number][] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];
const REFUSED_V6: [string, number][] = [
  ['::', 96],
  ['100::', 64],
  ['64:ff9b:1::', 48],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
];

function refusedAddresses(): BlockList {
  const list = new BlockList();
  for (const [net, bits] of REFUSED_V4) {
    list.addSubnet(net, bits, 'ipv4');
    list.addSubnet(`64:ff9b::${net}`, 96 + bits, 'ipv6');
    const [a, b, c, d] = net.split('.').map(Number) as [number, number, number, number];
    const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
    list.addSubnet(`2002:${hex(a, b)}:${hex(c, d)}::`, 16 + bits, 'ipv6');
  }
  for (const [net, bits] of REFUSED_V6) list.addSubnet(net, bits, 'ipv6');
  return list;
}

const HOST_NAME = /^([a-z0-9-]+\.)*[a-z0-9-]+$/;

/** GIT_ALLOWED_HOSTS entries, parsed; throws naming the first bad entry and the fix. */
export function parseAllowedHosts(entries: readonly string[]): { names: Set<string>; ranges: BlockList } {
  const names = new Set<string>();
  const ranges = new BlockList();
  for (const raw of entries) {
    const entry = raw.trim().replace(/^\[(.*)\]$/, '$1');
    const [address = '', bits, extra] = entry.split('/');
    const family = isIP(address);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits !== undefined && family && extra === undefined && /^\d{1,3}$/.test(bits)) {
      if (Number(bits) <= (family === 6 ? 128 : 32)) {
        ranges.addSubnet(address, Number(bits), type);
        continue;
      }
    } else if (bits === undefined && family) {
      ranges.addAddress(address, type);
      continue;
    } else if (bits === undefined) {
      const name = hostName(entry);
      if (name && HOST_NAME.test(name) && !isIP(name)) {
        names.add(name);
        continue;
      }
    }
    throw new Error(
      `'${raw}' is not a host name, IP address or CIDR range: write e.g. git.internal,10.0.0.5,10.1.0.0/16`,
    );
  }
  return { names, ranges };
}

/** A host name as URL normalises it (lower case, IDN as punycode), without a trailing dot. */
function hostName(host: string): string | undefined {
  try {
    const url = new URL(`http://${host}/`);
    return url.host === url.hostname ? url.hostname.replace(/\.$/, '') : undefined;
  } catch {
    return undefined;
  }
}

export function createRemoteGuard(options: RemoteGuardOptions): RemoteGuard {
  const refused = refusedAddresses();
  const allowed = parseAllowedHosts(options.allowedHosts);
  const lookup: LookupAll = options.lookup ?? ((host) => dnsLookup(host, { all: true, verbatim: true }));
  const issued = new WeakSet<CheckedRemote>();
  const remember = (remote: CheckedRemote) => {
    issued.add(remote);
    return remote;
  };
  const blocked = (address: string, family: number) => {
    const type = family === 6 ? 'ipv6' : 'ipv4';
    return refused.check(address, type) && !allowed.ranges.check(address, type);
  };

  /** All addresses of `host`; a failure (unknown host, no address, timeout) reads as unreachable. */
  async function resolve(host: string, signal: AbortSignal | undefined) {
    const family = isIP(host);
    if (family) return [{ address: host, family }];
    const stop = AbortSignal.any([AbortSignal.timeout(options.timeoutMs), ...(signal ? [signal] : [])]);
    let addresses: readonly { address: string; family: number }[] = [];
    try {
      stop.throwIfAborted();
      addresses = await new Promise((done, fail) => {
        const onAbort = () => fail(new Error('stopped waiting for the host name'));
        stop.addEventListener('abort', onAbort, { once: true });
        void lookup(host)
          .then(done, fail)
          .finally(() => stop.removeEventListener('abort', onAbort));
      });
    } catch {
      if (signal?.aborted) throw new StowageError('unavailable', 'checking the git remote was cancelled');
    }
    if (!addresses.length) throw new StowageError('unavailable', UNREACHABLE);
    return addresses;
  }

  return {
    async check(url, signal) {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw invalidInput(`remote url '${url}' is not a URL: give e.g. https://github.com/owner/repo.git`);
      }
      const protocol = parsed.protocol.replace(/:$/, '');
      if (!options.allowedProtocols.includes(protocol)) {
        throw invalidInput(
          `remote protocol '${protocol}' is not allowed (allowed: ${options.allowedProtocols.join(', ')}): use https, or add it to GIT_ALLOWED_PROTOCOLS`,
        );
      }
      if (parsed.username || parsed.password) {
        throw invalidInput(
          "remote url must not carry credentials: remove them from the URL; the server's GITHUB_TOKEN or GIT_CREDENTIALS give them",
        );
      }
      const web = protocol === 'http' || protocol === 'https';
      if (protocol === 'file') return remember({ url, pin: undefined });
      // A trailing dot names the same host; without it, the name checked is the name git uses.
      parsed.hostname = parsed.hostname.replace(/\.$/, '');
      const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
      if (!host) {
        throw invalidInput(`remote url '${url}' names no host: give e.g. https://github.com/owner/repo.git`);
      }
      const target = web ? parsed.href : url;
      if (allowed.names.has(host)) return remember({ url: target, pin: undefined });
      const addresses = await resolve(host, signal);
      if (addresses.some((a) => blocked(a.address, a.family))) {
        throw new StowageError(
          'forbidden',
          `remote host '${host}' is on a loopback, private or link-local network, which Stowage does not let git contact: use a public host, or add it to GIT_ALLOWED_HOSTS`,
        );
      }
      const port = parsed.port || (protocol === 'https' ? '443' : '80');
      const pinned = addresses.map((a) => (a.family === 6 ? `[${a.address}]` : a.address)).join(',');
      const pin = web && !isIP(host) ? `${host}:${port}:${pinned}` : undefined;
      return remember({ url: target, pin });
    },

    issued: (remote) => remote !== undefined && issued.has(remote),
  };
}
