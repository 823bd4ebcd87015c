// Imported first by the commands that run Pulse, before any library reads NODE_ENV: libraries run
// development-only checks unless it says production, and some cost on every request (graphql-js
// looks for a second copy of itself whenever an instanceof fails, a few percent of an API
// process's time at load). Pulse's own settings never read NODE_ENV; a value given is kept.
process.env.NODE_ENV ??= 'production';
