import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const SOURCE = fileURLToPath(new URL('../../dashboard/', import.meta.url));

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** The live dashboard page, bundled from dashboard/ when Pulse starts: no CDN, nothing fetched. */
export interface Dashboard {
  /** Answers GET / and /dashboard/*; false when the path is not the dashboard's. */
  serve(path: string, ifNoneMatch: string | undefined, res: ServerResponse): Promise<boolean>;
}

function asset(body: Buffer | string, type: string): Asset {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return { body: bytes, type, etag: `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 16)}"` };
}

async function bundle(): Promise<Map<string, Asset>> {
  const result = await build({
    entryPoints: { app: `${SOURCE}main.ts` },
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    write: false,
    outdir: '/dashboard',
    logLevel: 'silent',
  });
  const assets = new Map<string, Asset>();
  assets.set('/', asset(await readFile(`${SOURCE}index.html`), 'text/html; charset=utf-8'));
  for (const file of result.outputFiles) {
    const name = file.path.slice(file.path.lastIndexOf('/'));
    const type = name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
    assets.set(`/dashboard${name}`, asset(Buffer.from(file.contents), type));
  }
  return assets;
}

export function createDashboard(): Dashboard {
  let assets: Promise<Map<string, Asset>> | undefined;
  return {
    async serve(path, ifNoneMatch, res) {
      if (path !== '/' && !path.startsWith('/dashboard/')) return false;
      assets ??= bundle();
      const found = (await assets).get(path);
      if (!found) return false;
      if (ifNoneMatch === found.etag) {
        res.writeHead(304, { etag: found.etag });
        res.end();
        return true;
      }
      res.writeHead(200, {
        'content-type': found.type,
        'content-length': found.body.length,
        etag: found.etag,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        // Everything the page needs comes from Pulse itself.
        'content-security-policy':
          "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
      });
      res.end(found.body);
      return true;
    },
  };
}
