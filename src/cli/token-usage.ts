// The usage of `stowage token`, apart from the command itself so that `--help` loads no storage.
export const TOKEN_USAGE = `  stowage token create --principal NAME --scopes read,write,admin --projects 'team-*,…'
        [--remotes 'https://github.com/acme/*,…']  remotes it may attach (default: none)
        [--workspaces 'team-*,…']               others' workspaces it may use (default: own only)
        [--expires-in 30d|12h|90m]              print a new API token (shown once)
  stowage token list                            tokens, without their secrets
  stowage token revoke <id>                     revoke a token`;
