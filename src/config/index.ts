export { parseBytes, parseDurationMs } from './duration.js';
export { loadSettings, type Settings, SettingsError } from './load.js';
