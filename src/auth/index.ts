export {
  type AccessControl,
  type AccessLimits,
  type CloseConnection,
  createAccessControl,
  DEFAULT_ACCESS_LIMITS,
} from './access.js';
export { Forbidden, KeyConfigError, RateLimited, TooManyConnections, Unauthenticated } from './errors.js';
export { createKeyring, type Keyring, type KeyringOptions } from './keyring.js';
export { findKey, type KeyEntry, parseKeyEntry, parseKeyFile, parseKeyList, sha256 } from './keys.js';
export { hasScope, OPEN_PRINCIPAL, type Principal, SCOPES, type Scope } from './scopes.js';
export { createTokenBucket, type TokenBucket, type TokenBucketOptions } from './token-bucket.js';
