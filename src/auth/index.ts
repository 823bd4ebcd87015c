export { Forbidden, KeyConfigError, RateLimited, Unauthenticated } from './errors.js';
export { createKeyring, type Keyring, type KeyringOptions } from './keyring.js';
export { findKey, type KeyEntry, parseKeyEntry, parseKeyFile, parseKeyList, sha256 } from './keys.js';
export { hasScope, OPEN_PRINCIPAL, type Principal, SCOPES, type Scope } from './scopes.js';
export { createTokenBucket, type TokenBucket, type TokenBucketOptions } from './token-bucket.js';
